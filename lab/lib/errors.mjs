// What an error says, in the API server's own words when it is a refused Kubernetes request (kept apart from kube.mjs
// so that the poll loop in proc.mjs can describe a last error without a cycle between the two).
import * as k8s from '@kubernetes/client-node'

/**
 * The API server's own words for a refused request (any other error: its message).
 * @param {unknown} err
 * @returns {string}
 */
export function messageOf(err) {
  if (!(err instanceof k8s.ApiException)) return err instanceof Error ? err.message : String(err)
  let body = err.body
  if (typeof body === 'string') {
    try { body = JSON.parse(body) } catch { return `${err.code}: ${body}` }
  }
  return `${err.code}${body?.reason ? ` ${body.reason}` : ''}${body?.message ? `: ${body.message}` : ''}`
}
