// The edge to Prometheus' and Alertmanager's own checkers: promtool (check config, check rules, test rules) and
// amtool (check-config, config routes test), each run in a container of the image given. No policy here: the lint
// step decides what a failure means and how it is shown.
import { dag, ReturnType, type Container, type Directory } from '@dagger.io/dagger'

/** Where the repository's monitoring/ folder is mounted: commands name files as `monitoring/...`, relative to it. */
export const WORKDIR = '/src'
/** Where Prometheus configs expect their rule files (`rule_files: /etc/prometheus/rules/*.yml`). */
export const RULES_MOUNT = '/etc/prometheus/rules'

/** What one tool run said. */
export interface ToolRun {
  /** The command, as run. */
  command: string[]
  exitCode: number
  /** stdout and stderr together. */
  output: string
}

/** A container of a tool image (a reference, or a container) with the monitoring folder at /src/monitoring and its rules where configs look. */
export function toolContainer(image: string | Container, monitoring: Directory): Container {
  return (typeof image === 'string' ? dag.container().from(image) : image)
    .withMountedDirectory(`${WORKDIR}/monitoring`, monitoring)
    .withMountedDirectory(RULES_MOUNT, monitoring.directory('prometheus/rules'))
    .withWorkdir(WORKDIR)
}

/** Runs a command to its end, whatever its exit code, and returns what it said (`entrypoint`: after the image's own). */
export async function runTool(c: Container, command: string[], entrypoint = false): Promise<ToolRun> {
  const done = c.withExec(command, { expect: ReturnType.Any, useEntrypoint: entrypoint })
  const [exitCode, stdout, stderr] = await Promise.all([done.exitCode(), done.stdout(), done.stderr()])
  return { command, exitCode, output: `${stdout}${stdout && stderr ? '\n' : ''}${stderr}`.trim() }
}

/** `promtool check config FILE`: the config, and the rule files it names. */
export const checkConfig = (c: Container, file: string) => runTool(c, ['promtool', 'check', 'config', file])

/** `promtool check rules FILES`: syntax and semantics of each rule (PromQL parsed by Prometheus itself). */
export const checkRules = (c: Container, files: string[]) => runTool(c, ['promtool', 'check', 'rules', ...files])

/** `promtool test rules FILES`: the rule unit tests. */
export const testRules = (c: Container, files: string[]) => runTool(c, ['promtool', 'test', 'rules', ...files])

/** `amtool check-config FILE`: an Alertmanager config (routes, receivers, inhibit rules, templates). */
export const amtoolCheckConfig = (c: Container, file: string) => runTool(c, ['amtool', 'check-config', file])

/** `<collector> validate --config FILE`, through the image's entrypoint (the binary's name differs between images). */
export const otelcolValidate = (c: Container, file: string) => runTool(c, ['validate', `--config=${file}`], true)

/** `amtool config routes test`: does an alert with these labels reach exactly these receivers? */
export const amtoolRoutesTest = (c: Container, file: string, labels: Record<string, string>, receivers: string[]) =>
  runTool(c, [
    'amtool', 'config', 'routes', 'test', `--config.file=${file}`, `--verify.receivers=${receivers.join(',')}`,
    ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
  ])
