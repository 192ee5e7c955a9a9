// English. Every string the app shows lives in a catalogue; Danish and
// Swedish have the same keys (the type checker makes sure).

export const en = {
  "app.name": "Samtale",
  "app.tagline": "Secure messages between you and your municipality",
  "lang.label": "Language",

  "start.join": "I have an invitation",
  "start.login": "I already use Samtale: log in with eID",
  "start.about":
    "Samtale is how your municipality writes to you about your case, instead of text messages. Only you and the municipality can read what is written; not even the company that runs the server can.",

  "join.title": "Join with your invitation",
  "join.code.label": "Invitation code (from your letter)",
  "join.code.hint": "Five groups of letters and digits, for example 7K2Q-XM3P-9T4W-ABCD-EFGH",
  "join.code.next": "Continue",
  "join.code.refused":
    "This code does not work: it may be mistyped, used already or expired. Check it against your letter, or ask the municipality for a new one.",
  "join.fp.title": "Check that this is your municipality",
  "join.fp.text":
    "Your letter shows a fingerprint: a code that only {org} has. Compare it with the one below, group by group.",
  "join.fp.match": "It matches my letter",
  "join.fp.differs": "It does not match",
  "join.fp.stop.title": "Stop: do not continue",
  "join.fp.stop.text":
    "This server is not the municipality that wrote to you, or the letter is not genuine. Nothing has been used up or sent. Call the municipality on the number you know (not one from the letter) and tell them.",
  "join.consent.title": "Your consent",
  "join.consent.accept": "I agree to receive messages from {org} in Samtale",
  "join.consent.next": "Continue",
  "join.eid.title": "Prove who you are",
  "join.eid.text":
    "Log in with your national eID (MitID, BankID or Freja). The municipality uses it once, to check that the invitation is really for you.",
  "join.eid.button": "Log in with eID",
  "join.eid.none":
    "This server has no eID login. You join without proving who you are: staff will then give only general answers, never anything about your case.",
  "join.eid.none.button": "Join without eID",
  "join.eid.failed": "The eID login did not finish. Try again.",
  "join.working": "Making this device's keys and joining…",
  "join.done": "You are in.",

  "login.title": "Log in with eID",
  "login.text":
    "Log in with your national eID on this device. If you use Samtale on another device too, approve this one there afterwards.",
  "login.button": "Log in with eID",
  "login.noaccount": "No account is linked to this eID. Use the invitation code from your letter.",

  "pin.title": "Protect this device with a PIN (optional)",
  "pin.text": "With a PIN, nobody who picks up this device can open your messages without it.",
  "pin.label": "PIN (at least 6 digits)",
  "pin.skip": "Not now",
  "pin.set": "Set PIN",
  "pin.unlock.title": "Enter your PIN",
  "pin.unlock.button": "Open",
  "pin.wrong": "The PIN is wrong.",

  "threads.title": "Your conversations",
  "threads.empty": "No conversations yet. The municipality starts one when it writes to you.",
  "threads.unread": "{n} unread",
  "threads.filed": "Filed on case {case}",
  "threads.open": "Open the conversation with {team}",

  "chat.back": "Back to conversations",
  "chat.archive":
    "The municipality keeps a record of this conversation: it can be filed in your case, as the law requires.",
  "chat.verified": "Verified: {name}, {team}, {org}",
  "chat.unverified": "Could not be verified: this message is not shown",
  "chat.you": "You",
  "chat.delivered": "Delivered",
  "chat.read": "Read",
  "chat.sending": "Sending…",
  "chat.queued": "Waiting to send",
  "chat.composer.label": "Message",
  "chat.send": "Send",
  "chat.attach": "Attach a file",
  "chat.download": "Download {name}",
  "chat.earlier": "Show {n} earlier messages ({total} in all)",
  "chat.removed": "{n} older messages were deleted under the municipality's rules for keeping records",
  "chat.filed": "Filed on case {case} up to message {n}",
  "chat.consent.withdrawn": "You withdrew your consent: nothing more can be sent here.",
  "chat.reset.warning":
    "{name}'s devices were reset on {date}. Compare safety numbers before you trust new messages.",
  "chat.safety": "Safety numbers",

  "status.online": "Connected",
  "status.connecting": "Connecting…",
  "status.offline": "Offline: messages are sent when you are back online",

  "safety.title": "Safety numbers",
  "safety.text":
    "Compare these numbers with your caseworker, in person or on the phone. If they match, nobody is listening in between.",
  "safety.confirm": "The numbers match",

  "settings.title": "Settings",
  "settings.devices": "Your devices",
  "settings.devices.device": "Device",
  "settings.devices.fingerprint": "Fingerprint",
  "settings.devices.this": "This device",
  "settings.devices.revoke": "Remove",
  "settings.devices.waiting": "Waiting for approval",
  "settings.approve.title": "A new device wants to join",
  "settings.approve.text":
    "Approve it only if it is yours and shows this fingerprint: {fp}",
  "settings.approve.button": "Approve",
  "settings.export": "Download my data",
  "settings.withdraw": "Withdraw consent",
  "settings.withdraw.text":
    "If you withdraw your consent, the municipality can no longer write to you in Samtale and will use letters or digital post instead. You are logged out on every device.",
  "settings.withdraw.confirm": "Withdraw my consent",
  "settings.logout": "Log out",
  "settings.logout.only":
    "This is your only device: if you log out, its keys are deleted and older messages cannot be read here again. Log out anyway?",
  "settings.pin": "PIN",

  "waiting.title": "Approve this device on your other device",
  "waiting.text":
    "Open Samtale on the device you already use and approve this one. It must show this fingerprint:",

  "error.evicted":
    "Your browser has deleted this device's keys (for example when storage was cleared). Log in with eID again: this browser becomes a new device, and your other device approves it.",
  "error.network": "The server cannot be reached. Check your connection.",
  "error.server": "Something went wrong: {message}",
  "error.rootChanged":
    "The server presents another organisation key than the one you checked. Do not continue; call the municipality.",
} as const;

export type Key = keyof typeof en;
export type Catalogue = Record<Key, string>;
