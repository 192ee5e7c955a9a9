// A strict JSON reader for the closed objects of the protocol (payloads,
// wire frames). It reads what serde_json reads and keeps what
// `JSON.parse` loses: integer lexemes exactly (a u64 is not a float),
// repeated keys (serde refuses a repeated field) and lone surrogates (a
// Rust string cannot hold one); callers apply serde's rules to them.

/** A JSON number, kept as its text. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

/** A JSON object, its members in order (repeats kept). */
export class JsonObject {
  constructor(readonly members: ReadonlyArray<readonly [string, JsonValue]>) {}

  /** Whether any key appears twice. */
  hasRepeatedKeys(): boolean {
    return new Set(this.members.map(([k]) => k)).size !== this.members.length;
  }

  get(key: string): JsonValue | undefined {
    return this.members.find(([k]) => k === key)?.[1];
  }

  keys(): string[] {
    return this.members.map(([k]) => k);
  }
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;

/** Text that is not JSON as serde_json reads it. */
export class JsonSyntaxError extends SyntaxError {
  override readonly name = "JsonSyntaxError";
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** An array or object being read. */
type Open = { items: JsonValue[] } | { members: (readonly [string, JsonValue])[]; key: string };

/**
 * Parses one JSON document (whitespace around it allowed, nothing else).
 * Iterative, so nesting depth is bounded by the input's size only: serde
 * skips a deeply nested field it ignores, and so must this reader.
 */
export function parseJson(text: string): JsonValue {
  let i = 0;
  const fail = (): never => {
    throw new JsonSyntaxError("invalid JSON");
  };
  const ws = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      i++;
    }
  };
  const str = (): string => {
    if (text[i] !== '"') fail();
    i++;
    let out = "";
    for (;;) {
      if (i >= text.length) fail();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c < 0x20) fail();
      if (c !== 0x5c) {
        out += text[i];
        i++;
        continue;
      }
      const e = text[i + 1] ?? "";
      i += 2;
      const simple = ESCAPES[e];
      if (simple !== undefined) {
        out += simple;
      } else if (e === "u") {
        const hex = text.slice(i, i + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail();
        out += String.fromCharCode(parseInt(hex, 16));
        i += 4;
      } else {
        fail();
      }
    }
  };
  const scalar = (): JsonValue => {
    if (text[i] === '"') return str();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m === null) return fail();
    i += m[0].length;
    return new JsonNumber(m[0]);
  };
  const stack: Open[] = [];
  const memberKey = (): string => {
    ws();
    const key = str();
    ws();
    if (text[i] !== ":") fail();
    i++;
    return key;
  };
  for (;;) {
    // Read one value: open a container, or a scalar.
    ws();
    let value: JsonValue | undefined;
    const c = text[i];
    if (c === "[" || c === "{") {
      i++;
      ws();
      if (text[i] === (c === "[" ? "]" : "}")) {
        i++;
        value = c === "[" ? [] : new JsonObject([]);
      } else {
        stack.push(c === "[" ? { items: [] } : { members: [], key: memberKey() });
        continue;
      }
    } else {
      value = scalar();
    }
    // Place it, closing every container that ends after it.
    for (;;) {
      const top = stack.at(-1);
      if (top === undefined) {
        ws();
        if (i !== text.length) fail();
        return value;
      }
      if ("items" in top) top.items.push(value);
      else top.members.push([top.key, value]);
      ws();
      if (text[i] === ",") {
        i++;
        if ("members" in top) top.key = memberKey();
        break;
      }
      if (text[i] !== ("items" in top ? "]" : "}")) fail();
      i++;
      stack.pop();
      value = "items" in top ? top.items : new JsonObject(top.members);
    }
  }
}

/** Whether a string is well formed (no lone surrogate), as a Rust string must be. */
export function isWellFormed(text: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

/** The value of an unsigned integer lexeme no larger than `max`, else undefined
 *  (serde_json refuses fractions, exponents, signs and `-0` for unsigned fields). */
export function unsignedInteger(v: JsonValue | undefined, max: bigint): bigint | undefined {
  if (!(v instanceof JsonNumber) || !/^(?:0|[1-9][0-9]*)$/.test(v.text)) return undefined;
  const n = BigInt(v.text);
  return n <= max ? n : undefined;
}
