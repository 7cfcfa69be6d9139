"""Weighted facial graphs: builder, transforms, PyG Batch and networkx (geopain.graphs)."""
import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from geopain.errors import GeopainError, ShapeError
from geopain.graphs import (WEIGHTINGS, EdgeGeometry, FacialGraphBuilder, FillMissing, GraphTensors, NodeFeatures,
                            TemplateTopology, graphs_from_sequences, template_edges, template_triangles, to_networkx)
from geopain.landmarks import LandmarkSequence
from geopain.species import REGIONS, get_scheme


def frames(scheme, F=4, sd=0.05, seed=0):
    return (scheme.template[None] + np.random.default_rng(seed).normal(0, sd, (F, scheme.n_points, 3))).astype(np.float32)


class TestTemplateEdges:
    def test_smoke(self, human):
        e = template_edges(human)
        assert e.shape == (len(human.edges), 2) and (e[:, 0] < e[:, 1]).all()

    def test_exception(self, human):
        with pytest.raises(GeopainError, match="knn"):
            template_edges(human, knn=-1)

    def test_knn_and_delaunay_add_edges(self, sheep):
        base = {tuple(e) for e in template_edges(sheep)}
        knn = {tuple(e) for e in template_edges(sheep, knn=3)}
        both = template_edges(sheep, knn=3, delaunay=True)
        assert base < knn <= {tuple(e) for e in both}
        assert len(np.unique(both, axis=0)) == len(both)
        # every point is joined to its nearest neighbour on the template
        d = np.linalg.norm(sheep.template[:, None] - sheep.template[None], axis=-1) + np.eye(28) * 1e9
        nn = d.argmin(1)
        assert all(tuple(sorted((i, int(j)))) in knn for i, j in enumerate(nn))

    def test_triangles_face_the_viewer(self):
        mp = get_scheme("human/mediapipe468")
        tri = template_triangles(mp)
        t = mp.template
        n = np.cross(t[tri[:, 1]] - t[tri[:, 0]], t[tri[:, 2]] - t[tri[:, 0]])
        assert len(tri) > 800 and (n[:, 2] >= 0).all() and len(np.unique(tri)) == 468


class TestFacialGraphBuilder:
    def test_smoke(self, human):
        b = FacialGraphBuilder(human)
        gt = b.tensors(frames(human))
        E = 2 * len(human.edges)
        assert isinstance(gt, GraphTensors) and len(gt) == 4
        assert gt.x.shape == (4, 68, b.num_node_features) and b.num_node_features == 3 + 3 + len(REGIONS) + 1
        assert gt.pos.shape == (4, 68, 3) and gt.edge_index.shape == (2, E)
        assert gt.edge_weight.shape == (4, E) and gt.edge_attr.shape == (4, E, 5) and gt.region.shape == (68,)
        assert "TemplateTopology" in repr(b) and "EdgeWeight('strain')" in repr(b)

    def test_shape_errors(self, human):
        b = FacialGraphBuilder(human)
        with pytest.raises(ShapeError, match=r"\(F, 68, 3\)"):
            b.tensors(np.zeros((2, 28, 3)))
        with pytest.raises(ShapeError, match="confidence"):
            b.tensors(frames(human), confidence=np.ones((3, 68)))
        with pytest.raises(GeopainError, match="weighting"):
            FacialGraphBuilder(human, weighting="nope")
        with pytest.raises(GeopainError, match="node features"):
            FacialGraphBuilder(human, features=("pos", "colour"))

    def test_documented_edges_and_weights(self, human):
        b = FacialGraphBuilder(human)
        gt = b.tensors(human.template[None])
        E = len(human.edges)
        ei = gt.edge_index.numpy()
        np.testing.assert_array_equal(ei[:, :E].T, human.edges)  # anatomical edges first, i < j
        np.testing.assert_array_equal(ei[:, E:], ei[::-1, :E])  # then the reverse directions
        torch.testing.assert_close(gt.edge_weight, torch.ones_like(gt.edge_weight))  # neutral -> 1
        torch.testing.assert_close(gt.strain, torch.zeros_like(gt.strain))
        # stretch one edge by 20 %: strain 0.2 -> weight 1 + 0.2 / 0.1 = 3, on both directions
        i, j = human.edges[0]
        moved = human.template.copy()
        moved[j] = moved[i] + 1.2 * (moved[j] - moved[i])
        gt = b.tensors(moved[None])
        assert gt.strain[0, 0].item() == pytest.approx(0.2, rel=1e-4)
        assert gt.edge_weight[0, 0].item() == pytest.approx(3.0, rel=1e-4)
        assert gt.edge_weight[0, E].item() == pytest.approx(3.0, rel=1e-4)
        iod = np.linalg.norm(human.template[36] - human.template[45])
        l = np.linalg.norm(moved[j] - moved[i]) / iod
        assert gt.edge_attr[0, 0, 0].item() == pytest.approx(l, rel=1e-4)
        torch.testing.assert_close(gt.edge_attr[0, E, 2:], -gt.edge_attr[0, 0, 2:])
        assert gt.edge_attr[0, 0, 2:].norm().item() == pytest.approx(1.0, rel=1e-5)

    def test_brow_lowering_weights_brow_edges(self, human):
        moved = human.template.copy()
        moved[17:27, 1] -= 0.4
        gt = FacialGraphBuilder(human).tensors(moved[None])
        E = len(human.edges)
        touches = np.isin(human.edges, np.arange(17, 27)).any(1) & ~np.isin(human.edges, np.arange(17, 27)).all(1)
        w = gt.edge_weight[0, :E].numpy()
        assert w[touches].min() > 1.05 and np.allclose(w[~np.isin(human.edges, np.arange(17, 27)).any(1)], 1.0)

    def test_missing_points(self, human):
        c = frames(human, F=2)
        c[1, 30] = np.nan
        gt = FacialGraphBuilder(human).tensors(c)
        assert torch.isfinite(gt.pos).all() and torch.isfinite(gt.x).all() and torch.isfinite(gt.edge_attr).all()
        touching = (gt.edge_index == 30).any(0)
        assert (gt.edge_weight[1, touching] == 0).all() and (gt.edge_weight[0, touching] > 0).all()
        assert gt.x[1, 30, -1] == 0 and gt.x[0, 30, -1] == 1  # confidence feature

    def test_reference_changes_strain(self, human):
        neutral = human.template * 1.1  # a bigger neutral face: the template is 10 % shorter
        gt = FacialGraphBuilder(human).tensors(human.template[None], reference=neutral)
        torch.testing.assert_close(gt.strain, torch.full_like(gt.strain, -1 / 11), rtol=1e-4, atol=1e-5)

    def test_same_as_single_data_transform(self, sheep):
        b = FacialGraphBuilder(sheep, knn=2, delaunay=True, features=("pos", "disp", "region", "conf", "normal"))
        c = frames(sheep, F=3)
        gt = b.tensors(c)
        d = b.transform(Data(pos=torch.from_numpy(c[2])))
        torch.testing.assert_close(d.x, gt.x[2])
        torch.testing.assert_close(d.edge_weight, gt.edge_weight[2])
        torch.testing.assert_close(d.edge_attr, gt.edge_attr[2])

    def test_weightings(self, human):
        assert {"strain", "distance", "uniform"} <= set(WEIGHTINGS.names())
        gt = FacialGraphBuilder(human, weighting="distance").tensors(human.template[None])
        assert ((gt.edge_weight > 0) & (gt.edge_weight < 1)).all()

    def test_comovement(self, human):
        c = np.repeat(human.template[None], 6, 0).astype(np.float32)
        c[:, 17:22, 1] -= np.linspace(0, 0.5, 6)[:, None]  # the right brow moves down together
        b = FacialGraphBuilder(human, comovement=True, mix=1.0)
        gt = b.tensors(c)
        brow = [k for k, (i, j) in enumerate(human.edges) if 17 <= i < 22 and 17 <= j < 22]
        torch.testing.assert_close(gt.comovement[3, brow], torch.ones(len(brow)))
        static = FacialGraphBuilder(human).tensors(c)
        torch.testing.assert_close(gt.edge_weight[:, brow], static.edge_weight[:, brow])
        assert "CoMovement" in repr(b)


class TestToBatch:
    def test_matches_from_data_list(self, human):
        b = FacialGraphBuilder(human, knn=2)
        gt = b.tensors(frames(human, F=5))
        y = torch.arange(5, dtype=torch.float32)
        fast = b.to_batch(gt, y=y)
        ref = Batch.from_data_list(b.to_data_list(gt, y=y))
        assert fast.num_graphs == 5
        for key in ("x", "pos", "edge_index", "edge_weight", "edge_attr", "batch", "ptr", "y"):
            torch.testing.assert_close(fast[key], ref[key])
        back = fast.to_data_list()
        torch.testing.assert_close(back[3].edge_index, gt.edge_index)
        torch.testing.assert_close(back[3].edge_weight, gt.edge_weight[3])
        torch.testing.assert_close(fast[4].x, gt.x[4])

    def test_exception(self, human):
        b = FacialGraphBuilder(human)
        with pytest.raises(ShapeError, match="one per graph"):
            b.to_batch(b.tensors(frames(human, F=3)), y=torch.zeros(2))

    def test_call_and_subset(self, human):
        b = FacialGraphBuilder(human)
        data = b(frames(human, F=3), y=np.array([0, 1, 0.0]))
        assert len(data) == 3 and data[1].y.item() == 1.0 and data[0].num_nodes == 68
        gt = b.tensors(frames(human, F=6))
        sub = gt[[1, 4]]
        assert len(sub) == 2 and torch.equal(sub.x[1], gt.x[4]) and torch.equal(sub.edge_index, gt.edge_index)


class TestToNetworkx:
    def test_same_weights(self, sheep):
        b = FacialGraphBuilder(sheep, knn=2)
        moved = sheep.template.copy()
        moved[2] += 1.0  # an ear tip
        d = b(moved[None])[0]
        G = to_networkx(d, sheep)
        E = d.edge_index.shape[1] // 2
        assert isinstance(G, nx.Graph) and G.number_of_nodes() == 28 and G.number_of_edges() == E
        for k in range(E):
            i, j = d.edge_index[:, k].tolist()
            assert G.edges[i, j]["weight"] == pytest.approx(d.edge_weight[k].item())
            assert G.edges[i, j]["strain"] == pytest.approx(d.edge_attr[k, 1].item())
        assert G.nodes[2]["name"] == "ear_tip_r" and G.nodes[2]["region"] == "brows_ears"
        # weighted degree: the moved ear tip's edges carry more weight than the other ear's
        assert G.degree(2, weight="weight") > G.degree(4, weight="weight")

    def test_exception(self):
        with pytest.raises(ShapeError):
            to_networkx(Data(x=torch.zeros(3, 2)))
        with pytest.raises(ShapeError, match="one graph"):
            to_networkx(Data(pos=torch.zeros(2, 3, 3), edge_index=torch.zeros(2, 0, dtype=torch.long)))


class TestGraphsFromSequences:
    def test_attributes(self, human):
        px = human.template[None, :, :2].repeat(3, 0) * np.array([10.0, -10.0]) + 100
        seq = LandmarkSequence(px.astype(np.float32), "human/ibug68", units="px", subject="S7", sequence="q",
                               frames=np.array([5, 6, 9]), labels={"pain": np.array([0, 1, 1.0])})
        data = graphs_from_sequences([seq], FacialGraphBuilder(human), label="pain")
        assert [d.frame for d in data] == [5, 6, 9] and data[0].subject == "S7" and data[2].sequence == "q"
        assert data[1].y.item() == 1.0
        torch.testing.assert_close(data[0].edge_weight, torch.ones_like(data[0].edge_weight), rtol=1e-3, atol=1e-3)
        batch = Batch.from_data_list(data)
        assert batch.subject == ["S7"] * 3

    def test_exception(self, human, sheep):
        seq = LandmarkSequence(sheep.template[None], "sheep/spfes", units="template")
        with pytest.raises(ShapeError, match="builder is for human/ibug68"):
            graphs_from_sequences([seq], FacialGraphBuilder(human))


class TestTransformsRepr:
    def test_each_has_a_repr(self, human):
        for t in (TemplateTopology(human, knn=3), FillMissing(human), EdgeGeometry(human), NodeFeatures(human)):
            r = repr(t)
            assert r.startswith(type(t).__name__ + "(")
