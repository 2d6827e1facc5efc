// Number and time formatting for the tables and cards.

const kwhFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });
const intFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function kwh(n: number): string {
  return `${kwhFmt.format(n)} kWh`;
}

export function sats(n: number): string {
  return `${intFmt.format(n)} sats`;
}

export function int(n: number): string {
  return intFmt.format(n);
}

export function num(n: number, digits = 2): string {
  return new Intl.NumberFormat("en-US", { maximumFractionDigits: digits }).format(n);
}

/** An RFC 3339 time shown compactly in UTC: `2025-12-01 10:10:00Z`. */
export function time(t: string | null | undefined): string {
  if (!t) return "—";
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?Z$/.exec(t);
  return m ? `${m[1]} ${m[2]}Z` : t;
}

/** `Date` → RFC 3339 UTC without milliseconds. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
