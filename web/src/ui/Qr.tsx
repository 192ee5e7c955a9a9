// A QR code drawn as SVG from the modules (no markup strings: nothing goes
// through innerHTML, which the page's Trusted Types policy forbids anyway).

import qrcode from "qrcode-generator";

export function Qr(props: { text: string; label: string }) {
  const code = qrcode(0, "M");
  code.addData(props.text);
  code.make();
  const n = code.getModuleCount();
  const margin = 4;
  let d = "";
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (code.isDark(r, c)) d += `M${c + margin} ${r + margin}h1v1h-1z`;
    }
  }
  const size = n + 2 * margin;
  return (
    <svg class="qr" viewBox={`0 0 ${size} ${size}`} role="img" aria-label={props.label} shape-rendering="crispEdges">
      <rect width={size} height={size} fill="#ffffff" />
      <path d={d} fill="#000000" />
    </svg>
  );
}
