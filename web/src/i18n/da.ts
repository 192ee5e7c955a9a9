// Dansk.
import type { Catalogue } from "./en";

export const da: Catalogue = {
  "app.name": "Samtale",
  "app.tagline": "Sikre beskeder mellem dig og din kommune",
  "lang.label": "Sprog",

  "start.join": "Jeg har en invitation",
  "start.login": "Jeg bruger allerede Samtale: log ind med eID",
  "start.about":
    "Samtale er den måde, din kommune skriver til dig om din sag på, i stedet for sms. Kun du og kommunen kan læse det, der skrives; ikke engang firmaet, der driver serveren.",

  "join.title": "Tilmeld dig med din invitation",
  "join.code.label": "Invitationskode (fra dit brev)",
  "join.code.hint": "Fem grupper af bogstaver og tal, for eksempel 7K2Q-XM3P-9T4W-ABCD-EFGH",
  "join.code.next": "Fortsæt",
  "join.code.refused":
    "Koden virker ikke: den kan være skrevet forkert, allerede brugt eller udløbet. Sammenlign med dit brev, eller bed kommunen om en ny.",
  "join.fp.title": "Tjek, at det er din kommune",
  "join.fp.text":
    "Dit brev viser et fingeraftryk: en kode, som kun {org} har. Sammenlign det med koden herunder, gruppe for gruppe.",
  "join.fp.match": "Det passer med mit brev",
  "join.fp.differs": "Det passer ikke",
  "join.fp.stop.title": "Stop: fortsæt ikke",
  "join.fp.stop.text":
    "Denne server er ikke den kommune, der skrev til dig, eller brevet er ikke ægte. Intet er brugt op eller sendt. Ring til kommunen på et nummer, du kender (ikke et fra brevet), og fortæl det.",
  "join.consent.title": "Dit samtykke",
  "join.consent.accept": "Jeg siger ja til at modtage beskeder fra {org} i Samtale",
  "join.consent.next": "Fortsæt",
  "join.eid.title": "Bekræft, hvem du er",
  "join.eid.text":
    "Log ind med MitID. Kommunen bruger det én gang for at tjekke, at invitationen virkelig er til dig.",
  "join.eid.button": "Log ind med MitID",
  "join.eid.none":
    "Denne server har ikke eID-login. Du tilmelder dig uden at bekræfte, hvem du er: medarbejderne giver så kun generelle svar, aldrig noget om din sag.",
  "join.eid.none.button": "Tilmeld uden eID",
  "join.eid.failed": "eID-login blev ikke gennemført. Prøv igen.",
  "join.working": "Laver denne enheds nøgler og tilmelder dig…",
  "join.done": "Du er med.",

  "login.title": "Log ind med eID",
  "login.text":
    "Log ind med MitID på denne enhed. Bruger du også Samtale på en anden enhed, så godkend denne der bagefter.",
  "login.button": "Log ind med MitID",
  "login.noaccount": "Der er ingen konto knyttet til dette eID. Brug invitationskoden fra dit brev.",

  "pin.title": "Beskyt denne enhed med en pinkode (valgfrit)",
  "pin.text": "Med en pinkode kan ingen, der tager din enhed, åbne dine beskeder uden den.",
  "pin.label": "Pinkode (mindst 6 cifre)",
  "pin.skip": "Ikke nu",
  "pin.set": "Vælg pinkode",
  "pin.unlock.title": "Skriv din pinkode",
  "pin.unlock.button": "Åbn",
  "pin.wrong": "Pinkoden er forkert.",

  "threads.title": "Dine samtaler",
  "threads.empty": "Ingen samtaler endnu. Kommunen starter en, når den skriver til dig.",
  "threads.unread": "{n} ulæste",
  "threads.filed": "Journaliseret på sag {case}",
  "threads.open": "Åbn samtalen med {team}",

  "chat.back": "Tilbage til samtaler",
  "chat.archive":
    "Kommunen gemmer denne samtale: den kan blive journaliseret på din sag, som loven kræver.",
  "chat.verified": "Bekræftet: {name}, {team}, {org}",
  "chat.unverified": "Kunne ikke bekræftes: beskeden vises ikke",
  "chat.you": "Dig",
  "chat.delivered": "Leveret",
  "chat.read": "Læst",
  "chat.sending": "Sender…",
  "chat.queued": "Venter på at blive sendt",
  "chat.composer.label": "Besked",
  "chat.send": "Send",
  "chat.attach": "Vedhæft en fil",
  "chat.download": "Hent {name}",
  "chat.earlier": "Vis {n} tidligere beskeder ({total} i alt)",
  "chat.removed": "{n} ældre beskeder er slettet efter kommunens regler for opbevaring",
  "chat.filed": "Journaliseret på sag {case} til og med besked {n}",
  "chat.consent.withdrawn": "Du har trukket dit samtykke tilbage: der kan ikke sendes mere her.",
  "chat.reset.warning":
    "{name}s enheder blev nulstillet {date}. Sammenlign sikkerhedsnumre, før du stoler på nye beskeder.",
  "chat.safety": "Sikkerhedsnumre",

  "status.online": "Forbundet",
  "status.connecting": "Forbinder…",
  "status.offline": "Offline: beskeder sendes, når du er online igen",

  "safety.title": "Sikkerhedsnumre",
  "safety.text":
    "Sammenlign numrene med din sagsbehandler, personligt eller i telefonen. Passer de, er der ingen, der lytter med imellem jer.",
  "safety.confirm": "Numrene passer",

  "settings.title": "Indstillinger",
  "settings.devices": "Dine enheder",
  "settings.devices.device": "Enhed",
  "settings.devices.fingerprint": "Fingeraftryk",
  "settings.devices.this": "Denne enhed",
  "settings.devices.revoke": "Fjern",
  "settings.devices.waiting": "Venter på godkendelse",
  "settings.approve.title": "En ny enhed vil være med",
  "settings.approve.text": "Godkend den kun, hvis den er din og viser dette fingeraftryk: {fp}",
  "settings.approve.button": "Godkend",
  "settings.export": "Hent mine data",
  "settings.withdraw": "Træk samtykke tilbage",
  "settings.withdraw.text":
    "Trækker du dit samtykke tilbage, kan kommunen ikke længere skrive til dig i Samtale og bruger i stedet brev eller Digital Post. Du bliver logget ud på alle enheder.",
  "settings.withdraw.confirm": "Træk mit samtykke tilbage",
  "settings.logout": "Log ud",
  "settings.logout.only":
    "Dette er din eneste enhed: logger du ud, slettes dens nøgler, og ældre beskeder kan ikke læses her igen. Log ud alligevel?",
  "settings.pin": "Pinkode",

  "waiting.title": "Godkend denne enhed på din anden enhed",
  "waiting.text":
    "Åbn Samtale på den enhed, du allerede bruger, og godkend denne. Den skal vise dette fingeraftryk:",

  "error.evicted":
    "Din browser har slettet denne enheds nøgler (for eksempel da lageret blev ryddet). Log ind med eID igen: browseren bliver en ny enhed, som din anden enhed godkender.",
  "error.network": "Serveren kan ikke nås. Tjek din forbindelse.",
  "error.server": "Noget gik galt: {message}",
  "error.rootChanged":
    "Serveren viser en anden organisationsnøgle end den, du tjekkede. Fortsæt ikke; ring til kommunen.",
};
