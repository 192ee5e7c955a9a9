// A worker that opens envelopes: decodes, verifies the sender's signature
// and the key commitment, unwraps the content key with the holder key and
// decrypts the payload — everything `Envelope.open` checks, off the page's
// main thread, so a long thread opens on every core. It answers with the
// signer's key and the payload; who the signer is (certificate, device
// list) is checked by the page (trust.ts), never here.

import { Envelope, HolderKeyPair, type HolderKind, type MessageId, type ThreadId } from "../protocol";

export interface OpenRequest {
  id: number;
  envelope: Uint8Array;
  threadId: ThreadId;
  messageId: MessageId;
  holder: { holder: string; epoch: number; kind: HolderKind; secret: Uint8Array };
}

export type OpenResponse =
  | { id: number; ok: true; sender: Uint8Array; payload: Uint8Array }
  | { id: number; ok: false; error: string };

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<OpenRequest>) => void) | null;
  postMessage(message: OpenResponse, transfer?: Transferable[]): void;
};

scope.onmessage = (e) => {
  const r = e.data;
  void (async () => {
    let key: HolderKeyPair | null = null;
    try {
      key = HolderKeyPair.fromSecret({ holder: r.holder.holder as never, epoch: r.holder.epoch }, r.holder.kind, r.holder.secret);
      const opened = await Envelope.decode(r.envelope).open({ threadId: r.threadId, messageId: r.messageId }, key);
      const sender = new Uint8Array(opened.sender.bytes);
      scope.postMessage({ id: r.id, ok: true, sender, payload: opened.payload }, [sender.buffer, opened.payload.buffer]);
    } catch (err) {
      scope.postMessage({ id: r.id, ok: false, error: err instanceof Error ? err.message : "failed" });
    } finally {
      key?.wipe();
      r.holder.secret.fill(0);
    }
  })();
};
