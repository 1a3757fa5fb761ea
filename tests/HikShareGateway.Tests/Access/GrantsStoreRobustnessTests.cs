using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Access;

/// <summary>Whatever bytes arrive on the grants topics, the store never throws and never applies anything unsigned.</summary>
[Trait("Category", "Unit")]
public sealed class GrantsStoreRobustnessTests : IDisposable
{
    private readonly GrantsStore _store = new(new GrantsStoreSettings(GatewayId, null), Keys, new FakeTimeProvider(), NullLogger<GrantsStore>.Instance);

    public void Dispose() => _store.Dispose();

    [Fact]
    public void EveryTruncatedPrefix_OfASignedSnapshot_IsRejected()
    {
        var full = Sign(Snapshot(3, [Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.All))]));
        for (var n = 0; n < full.Length; n++)
        {
            var r = _store.Apply(GrantMessageKind.Snapshot, full.AsSpan(0, n));
            Assert.True(r.Outcome == GrantApplyOutcome.Rejected, $"prefix of {n} bytes gave {r.Outcome}");
        }
        Assert.Equal(0, _store.Version);
        Assert.Equal(GrantApplyOutcome.Applied, _store.Apply(GrantMessageKind.Snapshot, full).Outcome);
    }

    [Fact]
    public void EverySingleBitFlip_OfASignedDelta_IsRejected()
    {
        _store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(3, [])));
        var delta = Sign(Delta(3, 4, upsertShares: [Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView, 1))]));
        var rnd = new Random(7);
        for (var i = 0; i < delta.Length; i++)
        {
            var copy = (byte[])delta.Clone();
            copy[i] ^= (byte)(1 << rnd.Next(8));
            var r = _store.Apply(GrantMessageKind.Delta, copy);
            // A flip in the last base64url character may only touch padding bits the decoder ignores;
            // then the signature bytes are unchanged and the message is the genuine one.
            if (r.Outcome == GrantApplyOutcome.Applied)
            {
                Assert.Equal(delta.Length - 1, i);
                return;
            }
            Assert.Equal(GrantApplyOutcome.Rejected, r.Outcome);
        }
        Assert.Equal(3, _store.Version);
        Assert.False(_store.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public async Task ConcurrentReaders_SeeOnlyWholeVersions()
    {
        // Version 2k grants Bob channel 1 and 2 together; odd states never exist. A reader must never see one without the other.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var torn = 0;
        var reader = Task.Run(() =>
        {
            while (!cts.IsCancellationRequested)
            {
                var index = _store.Index; // one snapshot of the index
                if (index.IsAllowed(Bob, Nvr, 1, Privilege.LiveView) != index.IsAllowed(Bob, Nvr, 2, Privilege.LiveView))
                {
                    Interlocked.Increment(ref torn);
                }
            }
        });
        for (var v = 1; v <= 200; v++)
        {
            var shares = v % 2 == 0 ? [Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView, 1, 2))] : new List<Share>();
            _store.Apply(GrantMessageKind.Snapshot, Sign(Snapshot(v, shares)));
        }
        cts.Cancel();
        await reader.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, torn);
        Assert.Equal(200, _store.Version);
    }
}
