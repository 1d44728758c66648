"""Pure graph analytics over the API's export ({nodes: [{id, project, tags}], edges: [{source, target}]}).
Links are treated as undirected, as the API's neighbour traversal does."""
from __future__ import annotations

from collections import Counter
from typing import Any


def degree_centrality(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, float]:
    """Degree / (n - 1) per node (networkx's definition); parallel links count once."""
    ids = [n["id"] for n in nodes]
    adj: dict[str, set[str]] = {i: set() for i in ids}
    for e in edges:
        s, t = e["source"], e["target"]
        if s in adj and t in adj and s != t:
            adj[s].add(t)
            adj[t].add(s)
    scale = 1.0 / (len(ids) - 1) if len(ids) > 1 else 0.0
    return {i: len(adj[i]) * scale for i in ids}


def connected_components(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> list[list[str]]:
    """Components by union-find, largest first; each component's ids sorted."""
    parent = {n["id"]: n["id"] for n in nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for e in edges:
        s, t = e["source"], e["target"]
        if s in parent and t in parent:
            rs, rt = find(s), find(t)
            if rs != rt:
                parent[max(rs, rt)] = min(rs, rt)
    groups: dict[str, list[str]] = {}
    for i in parent:
        groups.setdefault(find(i), []).append(i)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g[0]))


def top_tags(nodes: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    c = Counter(t for n in nodes for t in set(n.get("tags") or []))
    return [{"tag": t, "count": k} for t, k in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def summarize(graph: dict[str, Any], top: int = 10) -> dict[str, Any]:
    nodes, edges = graph["nodes"], graph["edges"]
    cent = degree_centrality(nodes, edges)
    comps = connected_components(nodes, edges)
    ranked = sorted(cent.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {
        "nodes": len(nodes),
        "edges": len(edges),
        "degree_centrality": [{"id": i, "centrality": round(v, 6)} for i, v in ranked],
        "components": {"count": len(comps), "sizes": [len(c) for c in comps],
                       "largest": comps[0] if comps else []},
        "top_tags": top_tags(nodes, top),
        "projects": dict(Counter(n.get("project", "default") for n in nodes).most_common()),
    }
