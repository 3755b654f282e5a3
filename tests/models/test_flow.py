import torch

from clsm_cli.models.flow import AffineCouplingFlow


def _flow():
    torch.manual_seed(0)
    flow = AffineCouplingFlow(dim=6, num_layers=4, hidden=16).double()
    with torch.no_grad():  # larger weights than the default init, so the flow is far from identity
        for parameter in flow.parameters():
            parameter.mul_(3.0)
    return flow


def test_inverse_undoes_forward():
    flow = _flow()
    z = torch.randn(5, 6, dtype=torch.float64)
    w, _ = flow(z)
    assert not torch.allclose(w, z, atol=1e-2)
    torch.testing.assert_close(flow.inverse(w), z, rtol=0, atol=1e-10)
    torch.testing.assert_close(flow(flow.inverse(z))[0], z, rtol=0, atol=1e-10)


def test_logdet_equals_autograd_jacobian():
    flow = _flow()
    for seed in range(3):
        z = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        jacobian = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0][0], z)  # (6, 6)
        _, expected = torch.linalg.slogdet(jacobian)
        _, logdet = flow(z[None])
        torch.testing.assert_close(logdet[0], expected, rtol=0, atol=1e-9)
        assert abs(logdet.item()) > 1e-3  # not volume-preserving: the test can tell a wrong sign


def test_couplings_alternate_halves():
    flow = _flow()
    z = torch.randn(1, 6, dtype=torch.float64)
    first = flow.couplings[0](z)[0]
    assert torch.equal(first[:, :3], z[:, :3]) and not torch.equal(first[:, 3:], z[:, 3:])
    second = flow.couplings[1](z)[0]
    assert torch.equal(second[:, 3:], z[:, 3:]) and not torch.equal(second[:, :3], z[:, :3])
