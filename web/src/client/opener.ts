// Opening envelopes on several cores: a small pool of workers
// (opener.worker.ts) where the browser has them, in this thread where it
// does not (Node's tests, old browsers). Either way `Envelope.open` does
// every check; the caller checks the signer (trust.ts).

import { IdentityKey, type Envelope, type HolderKeyPair, type MessageId, type OpenedMessage, type ThreadId } from "../protocol";
import type { OpenRequest, OpenResponse } from "./opener.worker";
// The worker's bundled script (Vite builds it as a chunk of its own).
import workerUrl from "./opener.worker?worker&url";

/** The pool could not answer; the caller opens in this thread. */
class WorkerLost extends Error {}

interface Waiting {
  resolve: (o: OpenedMessage) => void;
  reject: (e: Error) => void;
}

/** Makes the workers' script URL acceptable to the page's Trusted Types
 *  policy (main.tsx installs one); identity where there is none. */
export type ScriptUrl = (url: string) => string | URL;

class Pool {
  readonly #workers: Worker[] = [];
  readonly #waiting = new Map<number, Waiting>();
  #next = 0;
  #turn = 0;
  #lost = false;

  get lost(): boolean {
    return this.#lost;
  }

  constructor(size: number, scriptUrl: ScriptUrl) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(scriptUrl(workerUrl), { type: "module" });
      worker.onmessage = (e: MessageEvent<OpenResponse>) => {
        const r = e.data;
        const w = this.#waiting.get(r.id);
        if (w === undefined) return;
        this.#waiting.delete(r.id);
        if (r.ok) w.resolve({ sender: IdentityKey.fromBytes(r.sender), payload: r.payload });
        else w.reject(new Error(r.error));
      };
      worker.onerror = () => {
        // A worker that cannot start (a policy, a broken build) or dies:
        // everything still waiting is opened in this thread instead.
        this.#lost = true;
        for (const [id, w] of this.#waiting) {
          this.#waiting.delete(id);
          w.reject(new WorkerLost());
        }
      };
      this.#workers.push(worker);
    }
  }

  open(envelope: Uint8Array, threadId: ThreadId, messageId: MessageId, key: HolderKeyPair): Promise<OpenedMessage> {
    const id = this.#next++;
    const worker = this.#workers[this.#turn++ % this.#workers.length];
    if (worker === undefined) return Promise.reject(new Error("no worker"));
    const request: OpenRequest = {
      id,
      envelope,
      threadId,
      messageId,
      holder: { holder: key.epoch.holder, epoch: key.epoch.epoch, kind: key.kind, secret: key.secret().slice() },
    };
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage(request, [request.holder.secret.buffer]);
    });
  }
}

let pool: Pool | null | undefined;
let scriptUrl: ScriptUrl = (url) => url;

/** How the page turns the workers' URL into one its policy allows. */
export function setWorkerScriptUrl(make: ScriptUrl): void {
  scriptUrl = make;
}

function workers(): Pool | null {
  if (pool !== undefined) return pool;
  const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
  if (typeof Worker === "undefined" || cores < 2) {
    pool = null;
    return pool;
  }
  try {
    pool = new Pool(Math.min(4, cores), scriptUrl);
  } catch {
    pool = null;
  }
  return pool;
}

/** Opens an envelope as `Envelope.open` does, on a worker when there are
 *  any. The envelope's bytes are the decoded ones (already checked to be
 *  for this thread by the caller). */
export function openEnvelope(
  envelope: Envelope,
  threadId: ThreadId,
  messageId: MessageId,
  key: HolderKeyPair,
): Promise<OpenedMessage> {
  const p = workers();
  const here = () => envelope.open({ threadId, messageId }, key);
  if (p === null) return here();
  if (p.lost) {
    pool = null;
    return here();
  }
  return p.open(envelope.bytes, threadId, messageId, key).catch((e: unknown) => {
    if (e instanceof WorkerLost) return here();
    throw e;
  });
}
