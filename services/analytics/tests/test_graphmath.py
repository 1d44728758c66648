from app.graphmath import connected_components, degree_centrality, summarize, top_tags

N = [{"id": i, "tags": t, "project": "p"} for i, t in
     [("a", ["x", "y"]), ("b", ["x"]), ("c", ["y", "x"]), ("d", []), ("e", ["z"])]]
E = [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}, {"source": "c", "target": "a"},
     {"source": "a", "target": "b"}, {"source": "d", "target": "e"}, {"source": "a", "target": "ghost"}]


def test_degree_centrality_matches_networkx_definition():
    c = degree_centrality(N, E)
    assert c == {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.25, "e": 0.25}
    assert degree_centrality([{"id": "solo"}], []) == {"solo": 0.0}
    assert degree_centrality([], []) == {}


def test_components_largest_first():
    assert connected_components(N, E) == [["a", "b", "c"], ["d", "e"]]
    assert connected_components(N[:4], []) == [["a"], ["b"], ["c"], ["d"]]


def test_top_tags_counts_each_node_once():
    assert top_tags(N + [{"id": "f", "tags": ["z", "z"]}], 2) == [{"tag": "x", "count": 3}, {"tag": "y", "count": 2}]


def test_summary():
    s = summarize({"nodes": N, "edges": E}, top=2)
    assert s["nodes"] == 5 and s["edges"] == 6
    assert s["components"] == {"count": 2, "sizes": [3, 2], "largest": ["a", "b", "c"]}
    assert [d["id"] for d in s["degree_centrality"]] == ["a", "b"]
    assert s["projects"] == {"p": 5}
