// The lab's own iptables chains on the host: each holds exactly its rules and is jumped to first from a built-in
// chain, so that rules other programs rewrite (Docker, the CNI plugins, kube-router, kube-proxy) cannot take them away.
import { $ } from 'zx'

/**
 * A chain holding exactly `rules` (each tagged with `comment`), jumped to first from `parent` for packets matching
 * `match`. Idempotent: a chain that already holds them is left as it is.
 * @param {string} chain
 * @param {string} parent
 * @param {string[]} match
 * @param {string} comment
 * @param {string[][]} rules each ending in ['-j', TARGET]
 */
export async function ensureChain(chain, parent, match, comment, rules) {
  const tag = ['-m', 'comment', '--comment', comment]
  const want = rules.map((r) => `-A ${chain} ${[...r.slice(0, -2), ...tag, ...r.slice(-2)].map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}`)
  const have = await $`iptables -w -S ${chain}`.nothrow().quiet()
  if (have.exitCode !== 0) await $`iptables -w -N ${chain}`.quiet()
  if (have.exitCode !== 0 || JSON.stringify(have.stdout.trim().split('\n').slice(1)) !== JSON.stringify(want)) {
    await $`iptables -w -F ${chain}`.quiet()
    for (const r of rules) await $`iptables -w -A ${chain} ${r.slice(0, -2)} ${tag} ${r.slice(-2)}`.quiet()
  }
  if ((await $`iptables -w -C ${parent} ${match} -j ${chain}`.nothrow().quiet()).exitCode !== 0) {
    await $`iptables -w -I ${parent} 1 ${match} -j ${chain}`.quiet()
  }
}

/**
 * Removes a chain and every jump to it from the `from` chains.
 * @param {string} tool iptables or ip6tables
 * @param {string} table
 * @param {string} chain
 * @param {string[]} [from]
 */
export async function removeChain(tool, table, chain, from = []) {
  for (const parent of from) {
    while ((await $`${tool} -w -t ${table} -D ${parent} -j ${chain}`.nothrow().quiet()).exitCode === 0) { /* every copy */ }
  }
  await $`${tool} -w -t ${table} -F ${chain}`.nothrow().quiet()
  await $`${tool} -w -t ${table} -X ${chain}`.nothrow().quiet()
}
