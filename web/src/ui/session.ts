// The app's composition: an open keystore turned into everything the
// screens use — the REST client with shared tokens, the client context, the
// live relay, the outbox — and the few operations that are about the whole
// session (withdraw consent, export, log out).

import { deviceFingerprint, orgFingerprint, type ThreadId } from "../protocol";
import type { AccessExport, TeamInfo } from "../protocol/rest";
import { Api } from "../client/api";
import { contextOf, del, get, me, post, type Context } from "../client/context";
import { deviceStanding } from "../client/devices";
import { type Backing, Keystore, type MarkerStore } from "../client/keystore";
import { upkeep, type UpkeepReport } from "../client/keys";
import type { ShownMessage } from "../client/model";
import { Outbox } from "../client/outbox";
import { Relay, wsUrl } from "../client/relay";
import { certified, teams } from "../client/staff";
import { type Hit, SearchIndex } from "../client/search";
import { deliveredReceipts } from "../client/send";
import { threadRows, threadView } from "../client/threads";
import { Tokens } from "../client/tokens";

export class AppSession {
  readonly relay: Relay;
  readonly outbox: Outbox;
  /** The thread on screen (it gets read receipts; others delivered). */
  open: ThreadId | null = null;
  /** Each thread's team name, as last listed (for neutral notices). */
  readonly teamOf = new Map<ThreadId, string>();
  readonly #stop: (() => void)[] = [];

  private constructor(
    readonly ctx: Context,
    readonly tokens: Tokens,
    readonly backing: Backing,
    readonly marker: MarkerStore,
  ) {
    this.relay = new Relay({ url: wsUrl(""), tokens });
    this.outbox = new Outbox(ctx, this.relay);
    this.#stop.push(deliveredReceipts(ctx, this.relay, (t) => t === this.open));
  }

  /** Everything for an open keystore; starts the live connection. */
  static start(keystore: Keystore, backing: Backing, marker: MarkerStore): AppSession {
    const tokens = new Tokens(keystore);
    const api = new Api().withTokens(tokens);
    const session = new AppSession(contextOf(api, keystore), tokens, backing, marker);
    session.relay.start();
    session.outbox.restore();
    // Back online, or back on screen: reconnect now instead of at the
    // next backoff step.
    if (typeof addEventListener === "function") {
      const nudge = (): void => session.relay.nudge();
      const lost = (): void => session.relay.networkLost();
      const visible = (): void => {
        if (document.visibilityState === "visible") session.relay.nudge();
      };
      addEventListener("online", nudge);
      addEventListener("offline", lost);
      document.addEventListener("visibilitychange", visible);
      session.#stop.push(() => {
        removeEventListener("online", nudge);
        removeEventListener("offline", lost);
        document.removeEventListener("visibilitychange", visible);
      });
    }
    void session.threads().catch(() => undefined);
    return session;
  }

  /** Whether this is a staff member's session (else a citizen's). */
  get isStaff(): boolean {
    return this.ctx.keystore.secrets.kind === "staff";
  }

  /** Staff: whether the organisation root has certified this device (until
   *  then it may read but not send). Checked by `checkCertified`. */
  certified = false;

  /** Staff: checks the certificate again (an admin may just have made it). */
  async checkCertified(): Promise<boolean> {
    this.certified = await certified(this.ctx);
    return this.certified;
  }

  #index: Promise<SearchIndex> | null = null;

  /** Searches the messages of every listed thread, in this page only:
   *  threads with messages the local index has not seen are opened and
   *  indexed first (with progress); the term goes nowhere. */
  async search(query: string, progress: (done: number, total: number) => void): Promise<Hit[]> {
    this.#index ??= SearchIndex.open(this.ctx.keystore);
    const index = await this.#index;
    await index.update(await this.threads(), (id) => threadView(this.ctx, id), progress);
    return index.search(query);
  }

  /** The account's roles (staff: staff, record clerk, admin). */
  async roles(): Promise<string[]> {
    return (await me(this.ctx)).roles;
  }

  /** Staff: the teams this person belongs to. */
  teams(): Promise<TeamInfo[]> {
    return teams(this.ctx);
  }

  get displayName(): string {
    return this.ctx.keystore.secrets.displayName;
  }

  get organisation(): string {
    return this.ctx.keystore.secrets.orgName;
  }

  get rootFingerprint(): string {
    return orgFingerprint(this.ctx.root);
  }

  get deviceFingerprint(): string {
    return deviceFingerprint(this.ctx.device.public.identity);
  }

  /** Key upkeep: open grants, make the citizen key, sign this first device
   *  into the account's list, grant the key to approved devices. */
  upkeep(): Promise<UpkeepReport> {
    return upkeep(this.ctx);
  }

  /** Whether this device is in the account's signed device list. */
  async approved(): Promise<boolean> {
    return (await deviceStanding(this.ctx)).kind === "listed";
  }

  /** The thread list; every thread in it is followed live from its last
   *  message (so a message in a thread that is not open still arrives and
   *  is acknowledged as delivered). */
  threads(options: { shared?: boolean } = {}): ReturnType<typeof threadRows> {
    // A screen's first look may share a listing already under way (the one
    // the session starts with); a look after a change makes its own.
    if (options.shared === true && this.#listing !== null) return this.#listing;
    const listing = this.#list().finally(() => {
      if (this.#listing === listing) this.#listing = null;
    });
    this.#listing = listing;
    return listing;
  }

  #listing: ReturnType<typeof threadRows> | null = null;

  async #list(): ReturnType<typeof threadRows> {
    const rows = await threadRows(this.ctx);
    const follow: [ThreadId, number][] = [];
    for (const row of rows) {
      if (row.team !== null) this.teamOf.set(row.threadId, row.team);
      if (this.relay.cursor(row.threadId) === undefined) follow.push([row.threadId, row.messages]);
    }
    // Followed once the list is on screen: a catch-up for each of
    // hundreds of threads would compete with the first render. A message
    // that arrives meanwhile is not missed: each thread is synced from the
    // seq it was listed with.
    if (follow.length > 0) {
      afterRender(() => {
        for (const [thread, after] of follow) this.relay.subscribe(thread, after);
      });
    }
    return rows;
  }

  /** Opens a thread and follows it live from its last message. */
  async view(thread: ThreadId): ReturnType<typeof threadView> {
    const view = await threadView(this.ctx, thread);
    this.relay.subscribe(thread, view.row.messages);
    return view;
  }

  /** Messages that arrive live in `thread` (already delivered frames are
   *  opened and verified by the screen through `openDelivered`). */
  onThreadChange(listener: (thread: ThreadId) => void): () => void {
    const a = this.relay.onDeliver((d) => listener(d.threadId));
    const b = this.relay.on("receipt", () => {
      if (this.open !== null) listener(this.open);
    });
    const c = this.outbox.onSent((m) => listener(m.threadId));
    return () => {
      a();
      b();
      c();
    };
  }

  /** What this account may see changed (it left a team): `listener` loads
   *  its lists and open thread again. */
  onAccessChanged(listener: () => void): () => void {
    return this.relay.on("access", () => listener());
  }

  /** The citizen withdraws consent: the server ends every session. The
   *  keys stay in this browser (the person may want to read again after a
   *  new invitation); the session is over. */
  async withdrawConsent(): Promise<void> {
    await post<undefined>(this.ctx, "/v1/consent/withdraw", {});
    this.close();
  }

  /** What the server holds about this person, with every message of every
   *  thread decrypted here: one JSON document to download. */
  async exportData(): Promise<Blob> {
    const held = await get<AccessExport>(this.ctx, "/v1/me/export");
    const threads: { thread: string; team: string | null; messages: ShownMessage[] }[] = [];
    for (const row of await this.threads()) {
      const view = await threadView(this.ctx, row.threadId);
      threads.push({ thread: row.threadId, team: row.team, messages: view.messages });
    }
    const doc = {
      format: "samtale-personal-export/1",
      exported_at: new Date().toISOString(),
      held_by_server: held,
      threads,
    };
    return new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" });
  }

  /** Ends the session on the server and deletes this browser's keys. */
  async logout(): Promise<void> {
    await del<undefined>(this.ctx, "/v1/sessions/current").catch(() => undefined);
    this.close();
    await Keystore.destroy(this.backing, this.marker);
  }

  close(): void {
    for (const stop of this.#stop) stop();
    this.outbox.dispose();
    this.relay.close();
  }
}

/** Runs `work` when the page is idle after the current render (at most
 *  half a second later), or in the next task where there is no idle
 *  callback (Node, in tests). */
export function afterRender(work: () => void): void {
  if (typeof requestIdleCallback === "function") requestIdleCallback(work, { timeout: 500 });
  else setTimeout(work, 0);
}
