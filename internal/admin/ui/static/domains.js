// domains.js: the allowlist rules of the server (internal/allowlist),
// repeated here so that Test can check and compare settings in the browser.

export const minTTL = 10;
export const maxTTL = 86400;
export const defaultTTL = 180;
export const maxDomains = 10000;

/** splitDomains splits text at commas, semicolons, spaces and new lines,
 * lower-cases each piece and drops one trailing dot. */
export function splitDomains(text) {
  return text
    .split(/[,;\s]+/)
    .filter((d) => d !== "")
    .map((d) => d.toLowerCase().replace(/\.$/, ""));
}

/** domainProblem returns why d is not a valid domain, or "". */
export function domainProblem(d) {
  if (d === "") {
    return "empty";
  }
  if (d.length > 253) {
    return "longer than 253 characters";
  }
  for (const label of d.split(".")) {
    if (label === "") {
      return "empty label";
    }
    if (label.length > 63) {
      return "label longer than 63 characters";
    }
    if (label.startsWith("-") || label.endsWith("-")) {
      return "label starts or ends with a hyphen";
    }
    if (!/^[a-z0-9-]+$/.test(label)) {
      return "only letters, digits, hyphens and dots";
    }
  }
  return "";
}

/** checkSettings validates the form's values. It returns the settings to
 * send and the problems per field ({ttl, domains}: message or ""). */
export function checkSettings(ttlText, enabled, domainsText) {
  const problems = { ttl: "", domains: "" };
  const ttl = Number(ttlText);
  if (ttlText.trim() === "" || !Number.isInteger(ttl) || ttl < minTTL || ttl > maxTTL) {
    problems.ttl = `Enter whole seconds from ${minTTL} to ${maxTTL}.`;
  }
  const all = splitDomains(domainsText);
  const bad = all.filter((d) => domainProblem(d) !== "");
  const domains = [...new Set(all.filter((d) => domainProblem(d) === ""))].sort();
  if (bad.length > 0) {
    problems.domains = bad.map((d) => `"${d}": ${domainProblem(d)}`).join("; ");
  } else if (domains.length > maxDomains) {
    problems.domains = `Too many domains: ${domains.length} (at most ${maxDomains}).`;
  }
  const settings = { subscription_ttl: ttl, allowlist: { enabled, domains } };
  return { settings, problems };
}

/** diffSettings lists, as sentences, what saving next over current changes. */
export function diffSettings(current, next) {
  const out = [];
  if (current.subscription_ttl !== next.subscription_ttl) {
    out.push(`Subscription expiration time: ${current.subscription_ttl} s → ${next.subscription_ttl} s`);
  }
  const onOff = (b) => (b ? "on" : "off");
  if (current.allowlist.enabled !== next.allowlist.enabled) {
    out.push(`Allowlist: ${onOff(current.allowlist.enabled)} → ${onOff(next.allowlist.enabled)}`);
  }
  const before = new Set(current.allowlist.domains || []);
  const after = new Set(next.allowlist.domains);
  const added = [...after].filter((d) => !before.has(d));
  const removed = [...before].filter((d) => !after.has(d));
  if (added.length > 0) {
    out.push(`Add ${added.length} domain(s): ${added.join(", ")}`);
  }
  if (removed.length > 0) {
    out.push(`Remove ${removed.length} domain(s): ${removed.join(", ")}`);
  }
  return out;
}
