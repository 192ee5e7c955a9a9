// Svenska.
import type { Catalogue } from "./en";

export const sv: Catalogue = {
  "app.name": "Samtale",
  "app.tagline": "Säkra meddelanden mellan dig och din kommun",
  "lang.label": "Språk",

  "start.join": "Jag har en inbjudan",
  "start.login": "Jag använder redan Samtale: logga in med e-legitimation",
  "start.about":
    "Samtale är sättet din kommun skriver till dig om ditt ärende, i stället för sms. Bara du och kommunen kan läsa det som skrivs; inte ens företaget som driver servern.",

  "join.title": "Gå med med din inbjudan",
  "join.code.label": "Inbjudningskod (från ditt brev)",
  "join.code.hint": "Fem grupper av bokstäver och siffror, till exempel 7K2Q-XM3P-9T4W-ABCD-EFGH",
  "join.code.next": "Fortsätt",
  "join.code.refused":
    "Koden fungerar inte: den kan vara felskriven, redan använd eller ha gått ut. Jämför med ditt brev, eller be kommunen om en ny.",
  "join.fp.title": "Kontrollera att det är din kommun",
  "join.fp.text":
    "Ditt brev visar ett fingeravtryck: en kod som bara {org} har. Jämför det med koden nedan, grupp för grupp.",
  "join.fp.match": "Det stämmer med mitt brev",
  "join.fp.differs": "Det stämmer inte",
  "join.fp.stop.title": "Stopp: fortsätt inte",
  "join.fp.stop.text":
    "Den här servern är inte kommunen som skrev till dig, eller så är brevet inte äkta. Inget har förbrukats eller skickats. Ring kommunen på ett nummer du känner till (inte ett från brevet) och berätta.",
  "join.consent.title": "Ditt samtycke",
  "join.consent.accept": "Jag samtycker till att ta emot meddelanden från {org} i Samtale",
  "join.consent.next": "Fortsätt",
  "join.eid.title": "Visa vem du är",
  "join.eid.text":
    "Logga in med BankID eller Freja. Kommunen använder det en gång för att kontrollera att inbjudan verkligen är till dig.",
  "join.eid.button": "Logga in med e-legitimation",
  "join.eid.none":
    "Den här servern har ingen inloggning med e-legitimation. Du går med utan att visa vem du är: personalen ger då bara allmänna svar, aldrig något om ditt ärende.",
  "join.eid.none.button": "Gå med utan e-legitimation",
  "join.eid.failed": "Inloggningen med e-legitimation blev inte klar. Försök igen.",
  "join.working": "Skapar den här enhetens nycklar och går med…",
  "join.done": "Du är med.",

  "login.title": "Logga in med e-legitimation",
  "login.text":
    "Logga in med BankID eller Freja på den här enheten. Använder du Samtale på en annan enhet också, godkänn den här där efteråt.",
  "login.button": "Logga in med e-legitimation",
  "login.noaccount": "Inget konto är kopplat till den här e-legitimationen. Använd inbjudningskoden från ditt brev.",

  "pin.title": "Skydda den här enheten med en pinkod (valfritt)",
  "pin.text": "Med en pinkod kan ingen som tar din enhet öppna dina meddelanden utan den.",
  "pin.label": "Pinkod (minst 6 siffror)",
  "pin.skip": "Inte nu",
  "pin.set": "Välj pinkod",
  "pin.unlock.title": "Skriv din pinkod",
  "pin.unlock.button": "Öppna",
  "pin.wrong": "Pinkoden är fel.",

  "threads.title": "Dina samtal",
  "threads.empty": "Inga samtal än. Kommunen startar ett när den skriver till dig.",
  "threads.unread": "{n} olästa",
  "threads.filed": "Diariefört i ärende {case}",
  "threads.open": "Öppna samtalet med {team}",

  "chat.back": "Tillbaka till samtalen",
  "chat.archive":
    "Kommunen sparar det här samtalet: det kan diarieföras i ditt ärende, som lagen kräver.",
  "chat.verified": "Verifierad: {name}, {team}, {org}",
  "chat.unverified": "Kunde inte verifieras: meddelandet visas inte",
  "chat.you": "Du",
  "chat.delivered": "Levererat",
  "chat.read": "Läst",
  "chat.sending": "Skickar…",
  "chat.queued": "Väntar på att skickas",
  "chat.composer.label": "Meddelande",
  "chat.send": "Skicka",
  "chat.attach": "Bifoga en fil",
  "chat.download": "Hämta {name}",
  "chat.earlier": "Visa {n} tidigare meddelanden ({total} totalt)",
  "chat.removed": "{n} äldre meddelanden har gallrats enligt kommunens regler",
  "chat.filed": "Diariefört i ärende {case} till och med meddelande {n}",
  "chat.consent.withdrawn": "Du har återkallat ditt samtycke: inget mer kan skickas här.",
  "chat.reset.warning":
    "{name}s enheter återställdes {date}. Jämför säkerhetsnummer innan du litar på nya meddelanden.",
  "chat.safety": "Säkerhetsnummer",

  "status.online": "Ansluten",
  "status.connecting": "Ansluter…",
  "status.offline": "Offline: meddelanden skickas när du är online igen",

  "safety.title": "Säkerhetsnummer",
  "safety.text":
    "Jämför numren med din handläggare, på plats eller i telefon. Stämmer de lyssnar ingen mellan er.",
  "safety.confirm": "Numren stämmer",

  "settings.title": "Inställningar",
  "settings.devices": "Dina enheter",
  "settings.devices.device": "Enhet",
  "settings.devices.fingerprint": "Fingeravtryck",
  "settings.devices.this": "Den här enheten",
  "settings.devices.revoke": "Ta bort",
  "settings.devices.waiting": "Väntar på godkännande",
  "settings.approve.title": "En ny enhet vill vara med",
  "settings.approve.text": "Godkänn den bara om den är din och visar det här fingeravtrycket: {fp}",
  "settings.approve.button": "Godkänn",
  "settings.export": "Hämta mina uppgifter",
  "settings.withdraw": "Återkalla samtycke",
  "settings.withdraw.text":
    "Om du återkallar ditt samtycke kan kommunen inte längre skriva till dig i Samtale och använder brev eller digital post i stället. Du loggas ut på alla enheter.",
  "settings.withdraw.confirm": "Återkalla mitt samtycke",
  "settings.logout": "Logga ut",
  "settings.logout.only":
    "Det här är din enda enhet: loggar du ut raderas dess nycklar, och äldre meddelanden kan inte läsas här igen. Logga ut ändå?",
  "settings.pin": "Pinkod",

  "waiting.title": "Godkänn den här enheten på din andra enhet",
  "waiting.text":
    "Öppna Samtale på enheten du redan använder och godkänn den här. Den ska visa det här fingeravtrycket:",

  "error.evicted":
    "Webbläsaren har raderat den här enhetens nycklar (till exempel när lagringen rensades). Logga in med e-legitimation igen: webbläsaren blir en ny enhet som din andra enhet godkänner.",
  "error.network": "Servern kan inte nås. Kontrollera din anslutning.",
  "error.server": "Något gick fel: {message}",
  "error.rootChanged":
    "Servern visar en annan organisationsnyckel än den du kontrollerade. Fortsätt inte; ring kommunen.",
};
