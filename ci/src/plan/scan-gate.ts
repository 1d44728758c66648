// Pure decisions of the scan gate: read Trivy's JSON reports, decide what blocks, say it in one message. No I/O.
import { PipelineError } from '../errors.js'

/** Trivy's severities, lowest first. */
export const SEVERITIES = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const
export type Severity = (typeof SEVERITIES)[number]

/** A vulnerable package in an image. */
export interface Finding {
  package: string
  /** CVE (or GHSA, ...) identifier. */
  id: string
  severity: string
  installed: string
  /** Fixed version(s); empty when no fix exists yet. */
  fixed: string
  /** Where Trivy found the package (OS, Python site-packages, ...). */
  target: string
  title: string
}

/** A failed misconfiguration check (Dockerfile, manifest). */
export interface Misconfiguration {
  id: string
  severity: string
  title: string
  /** File (and line when known) the check failed on. */
  file: string
  message: string
  resolution: string
}

/** A secret found in the source. */
export interface SecretFinding {
  rule: string
  severity: string
  title: string
  /** File and line. */
  file: string
}

/** What the gate decided from the three reports. */
export interface GateDecision {
  /** Vulnerabilities at or above the threshold: they block. */
  blocked: Finding[]
  /** Failed misconfiguration checks at or above the threshold: they block. */
  misconfigurations: Misconfiguration[]
  /** Every secret found: any secret blocks. */
  secrets: SecretFinding[]
  /** Every vulnerability reported, by severity (blocking or not). */
  counts: Record<string, number>
}

/** Parses a threshold like "CRITICAL,HIGH"; an unknown name fails listing the valid ones. */
export function parseSeverities(threshold: string): Severity[] {
  const names = threshold.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean)
  const bad = names.filter((n) => !(SEVERITIES as readonly string[]).includes(n))
  if (names.length === 0 || bad.length > 0) {
    throw new PipelineError(`severity "${threshold}" is not valid`, bad.length ? `unknown: ${bad.join(', ')}` : 'it is empty',
      `use a comma-separated list of ${SEVERITIES.join(', ')} (default CRITICAL,HIGH)`)
  }
  return names as Severity[]
}

interface TrivyReport {
  Results?: Array<{
    Target: string
    Vulnerabilities?: Array<{ VulnerabilityID: string; PkgName: string; InstalledVersion: string; FixedVersion?: string; Severity: string; Title?: string }>
    Misconfigurations?: Array<{ ID: string; AVDID?: string; Status: string; Severity: string; Title: string; Message: string; Resolution?: string; CauseMetadata?: { StartLine?: number } }>
    Secrets?: Array<{ RuleID: string; Severity: string; Title: string; StartLine: number }>
  }>
}

const parse = (json: string): TrivyReport => (json.trim() ? (JSON.parse(json) as TrivyReport) : {})

/** Every vulnerability of a Trivy image report. */
export function vulnerabilities(imageJson: string): Finding[] {
  return (parse(imageJson).Results ?? []).flatMap((r) => (r.Vulnerabilities ?? []).map((v) => ({
    package: v.PkgName, id: v.VulnerabilityID, severity: v.Severity, installed: v.InstalledVersion,
    fixed: v.FixedVersion ?? '', target: r.Target, title: v.Title ?? '',
  })))
}

/** Every failed check of a Trivy config report. */
export function misconfigurations(configJson: string): Misconfiguration[] {
  return (parse(configJson).Results ?? []).flatMap((r) => (r.Misconfigurations ?? []).filter((m) => m.Status === 'FAIL').map((m) => ({
    id: m.ID, severity: m.Severity, title: m.Title, message: m.Message, resolution: m.Resolution ?? '',
    file: m.CauseMetadata?.StartLine ? `${r.Target}:${m.CauseMetadata.StartLine}` : r.Target,
  })))
}

/** Every secret of a Trivy fs (secret) report. */
export function secrets(secretsJson: string): SecretFinding[] {
  return (parse(secretsJson).Results ?? []).flatMap((r) => (r.Secrets ?? []).map((s) => ({
    rule: s.RuleID, severity: s.Severity, title: s.Title, file: `${r.Target}:${s.StartLine}`,
  })))
}

/** The gate: vulnerabilities and failed checks at the threshold block, and any secret does. */
export function decide(reports: { image: string; config: string; secrets: string }, threshold: Severity[]): GateDecision {
  const all = vulnerabilities(reports.image)
  const counts: Record<string, number> = {}
  for (const v of all) counts[v.severity] = (counts[v.severity] ?? 0) + 1
  const atThreshold = (s: string) => (threshold as string[]).includes(s)
  return {
    blocked: all.filter((v) => atThreshold(v.severity)),
    misconfigurations: misconfigurations(reports.config).filter((m) => atThreshold(m.severity)),
    secrets: secrets(reports.secrets),
    counts,
  }
}

/** True when nothing blocks. */
export const passes = (d: Pick<GateDecision, 'blocked' | 'misconfigurations' | 'secrets'>): boolean =>
  d.blocked.length + d.misconfigurations.length + d.secrets.length === 0

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

/**
 * The gate's refusal as one PipelineError: what blocks (the counts, then each finding on its own line: package with
 * CVE, severity, installed and fixed version; failed check; secret) and what to do about each kind.
 */
export function gateError(service: string, d: Pick<GateDecision, 'blocked' | 'misconfigurations' | 'secrets'>): PipelineError {
  const parts = [
    d.blocked.length && plural(d.blocked.length, 'vulnerability').replace('vulnerabilitys', 'vulnerabilities'),
    d.misconfigurations.length && plural(d.misconfigurations.length, 'misconfiguration'),
    d.secrets.length && plural(d.secrets.length, 'secret'),
  ].filter(Boolean)
  const lines = []
  for (const v of d.blocked) {
    const fix = v.fixed ? `fixed in ${v.fixed}` : 'no fixed version yet'
    lines.push(`  ${v.package} ${v.installed}: ${v.id} (${v.severity}), ${fix}${v.title ? ` — ${v.title}` : ''} [${v.target}]`)
  }
  for (const m of d.misconfigurations) lines.push(`  ${m.file}: ${m.id} (${m.severity}) ${m.title} — ${m.message}`)
  for (const s of d.secrets) lines.push(`  ${s.file}: secret ${s.rule} (${s.severity}) ${s.title}`)
  const fixes = []
  if (d.blocked.length) {
    fixes.push('upgrade each package to its fixed version and rebuild; if a finding does not apply, add its ID to .trivyignore with a comment saying why (e.g. "CVE-2024-0001  # not reachable: ...")')
  }
  if (d.misconfigurations.length) fixes.push('fix each failed check in the file named (or add its ID to .trivyignore with the reason)')
  if (d.secrets.length) fixes.push('remove each secret from the source and rotate it; a false positive goes to .trivyignore by rule ID with the reason')
  return new PipelineError(`scan of ${service} blocked`, [parts.join(', '), ...lines].join('\n'), fixes.join('\n  → '))
}

/** The gate's refusal as text (empty when nothing blocks): see gateError. */
export function describeGate(service: string, d: Pick<GateDecision, 'blocked' | 'misconfigurations' | 'secrets'>): string {
  return passes(d) ? '' : gateError(service, d).message
}
