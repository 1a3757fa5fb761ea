using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Access;

/// <summary>The grant already carries owner, remark and expiry (contract §3): the visible devices hand them on for the web viewer.</summary>
[Trait("Category", "Unit")]
public sealed class AccessIndexShareDetailsTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.Parse("2026-11-25T10:00:00Z");

    [Fact]
    public void VisibleDevices_Recipient_GetsTheOwnerAndEveryAcceptedShareWithRemarkAndExpiry_NotPendingOrExpiredOnes()
    {
        var expiry = Now.AddDays(7);
        var index = AccessIndex.Build(GrantsState.FromSnapshot(Snapshot(1,
        [
            new Share("sh-a", Owner, Bob, "front shop", ShareState.Accepted, expiry, [On(Nvr, Privilege.LiveView, 1)]),
            new Share("sh-b", Owner, Bob, null, ShareState.Accepted, null, [On(Nvr, Privilege.Playback, 2)]),
            new Share("sh-c", Owner, Bob, "pending", ShareState.Pending, null, [On(Nvr, Privilege.Ptz, 1)]),
            new Share("sh-d", Owner, Bob, "expired", ShareState.Accepted, Now.AddMinutes(-1), [On(Nvr, Privilege.Ptz, 1)]),
        ])), Now);

        var bob = Assert.Single(index.GetVisibleDevices(Bob));
        Assert.Equal(Owner, bob.Owner);
        Assert.Equal([new ShareGrant("sh-a", Owner, "front shop", expiry), new ShareGrant("sh-b", Owner, null, null)], bob.Shares);

        var owner = Assert.Single(index.GetVisibleDevices(Owner));
        Assert.True(owner.IsOwner);
        Assert.Equal(Owner, owner.Owner);
        Assert.Empty(owner.Shares);
    }
}
