// A one-page A4 PDF of the invitation letter, made in the page (nothing is
// sent anywhere to render it): text in the standard Helvetica fonts, which
// every PDF reader has, in WinAnsi encoding (Danish and Swedish letters
// included), and the QR code drawn as filled squares. A document format,
// not cryptography: small enough to own, and checked by parsing it back in
// the tests.

/** A paragraph of the letter. */
export interface PdfBlock {
  text: string;
  size: number;
  bold?: boolean;
  /** Monospace (the code and the fingerprint). */
  mono?: boolean;
  /** Extra space after the block, in points. */
  after?: number;
}

const A4 = { width: 595, height: 842 };
const MARGIN = 56;

/** WinAnsi bytes for the typographic characters outside Latin-1. */
const WIN_ANSI: Readonly<Record<string, number>> = {
  "€": 0x80, "…": 0x85, "‘": 0x91, "’": 0x92, "“": 0x93, "”": 0x94, "•": 0x95, "–": 0x96, "—": 0x97,
};

function encode(text: string): number[] {
  const out: number[] = [];
  for (const c of text) {
    const code = c.codePointAt(0) ?? 0x3f;
    const byte = WIN_ANSI[c] ?? (code >= 0x20 && code <= 0xff && !(code >= 0x7f && code < 0xa0) ? code : 0x3f);
    // Parentheses and backslashes are escaped inside PDF strings.
    if (byte === 0x28 || byte === 0x29 || byte === 0x5c) out.push(0x5c);
    out.push(byte);
  }
  return out;
}

/** Splits a paragraph into lines that fit `width` points (Helvetica's
 *  average advance is a little over half the size; Courier's is 0.6). */
function wrap(text: string, size: number, width: number, mono: boolean): string[] {
  const perChar = size * (mono ? 0.6 : 0.53);
  const max = Math.max(10, Math.floor(width / perChar));
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      if (line === "") line = word;
      else if (line.length + 1 + word.length <= max) line += ` ${word}`;
      else {
        lines.push(line);
        line = word;
      }
    }
    lines.push(line);
  }
  return lines;
}

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

/** The PDF's bytes: the blocks from the top, the QR code (dark modules, row
 *  by row) at the top right. */
export function letterPdf(blocks: readonly PdfBlock[], qr: readonly (readonly boolean[])[] | null, qrSize = 150): Uint8Array {
  const content: number[] = [];
  const put = (s: string): void => void content.push(...ascii(s));
  let y = A4.height - MARGIN;
  const textWidth = A4.width - 2 * MARGIN - (qr !== null ? qrSize + 16 : 0);
  blocks.forEach((b, i) => {
    // Below the QR code the full width is free.
    const width = qr !== null && y < A4.height - MARGIN - qrSize - 8 ? A4.width - 2 * MARGIN : textWidth;
    const font = b.mono === true ? "F3" : b.bold === true ? "F2" : "F1";
    for (const line of wrap(b.text, b.size, i === 0 ? textWidth : width, b.mono === true)) {
      y -= b.size * 1.3;
      put(`BT /${font} ${b.size} Tf ${MARGIN} ${y.toFixed(1)} Td (`);
      for (const b of encode(line)) content.push(b);
      put(") Tj ET\n");
    }
    y -= b.after ?? 8;
  });
  if (qr !== null && qr.length > 0) {
    const n = qr.length;
    const cell = qrSize / (n + 8);
    const left = A4.width - MARGIN - qrSize;
    const top = A4.height - MARGIN;
    put("0 g\n");
    qr.forEach((row, r) =>
      row.forEach((dark, c) => {
        if (!dark) return;
        const x = left + (c + 4) * cell;
        const yy = top - (r + 5) * cell;
        put(`${x.toFixed(2)} ${yy.toFixed(2)} ${cell.toFixed(2)} ${cell.toFixed(2)} re f\n`);
      }),
    );
  }

  const objects: number[][] = [];
  const font = (name: string): number[] =>
    ascii(`<< /Type /Font /Subtype /Type1 /BaseFont /${name} /Encoding /WinAnsiEncoding >>`);
  objects.push(ascii("<< /Type /Catalog /Pages 2 0 R >>"));
  objects.push(ascii("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"));
  objects.push(
    ascii(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${A4.width} ${A4.height}] /Resources << /Font << /F1 5 0 R /F2 6 0 R /F3 7 0 R >> >> /Contents 4 0 R >>`,
    ),
  );
  const stream = ascii(`<< /Length ${content.length} >>\nstream\n`);
  for (const b of content) stream.push(b);
  objects.push(stream.concat(ascii("\nendstream")));
  objects.push(font("Helvetica"), font("Helvetica-Bold"), font("Courier"));

  const out: number[] = ascii("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out.push(...ascii(`${i + 1} 0 obj\n`));
    for (const b of body) out.push(b);
    out.push(...ascii("\nendobj\n"));
  });
  const xref = out.length;
  out.push(...ascii(`xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`));
  for (const o of offsets) out.push(...ascii(`${String(o).padStart(10, "0")} 00000 n \n`));
  out.push(...ascii(`trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`));
  return Uint8Array.from(out);
}
