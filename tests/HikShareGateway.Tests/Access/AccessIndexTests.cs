using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Access;

[Trait("Category", "Unit")]
public class AccessIndexTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.Parse("2026-11-25T10:00:00Z");

    private static AccessIndex Build(params Share[] shares) => AccessIndex.Build(GrantsState.FromSnapshot(Snapshot(1, shares)), Now);

    [Fact]
    public void NoGrants_DeniesEverything()
    {
        Assert.False(AccessIndex.Empty.IsAllowed(Owner, Nvr, 1, Privilege.LiveView));
        Assert.Empty(AccessIndex.Empty.GetVisibleDevices(Owner));
        Assert.Empty(AccessIndex.Empty.GetAlarmRecipients(Nvr, 1));
    }

    [Fact]
    public void Owner_HasEveryPrivilegeOnEveryChannel()
    {
        var index = Build();
        foreach (var p in new[] { Privilege.LiveView, Privilege.Playback, Privilege.AlarmPush, Privilege.TwoWayAudio, Privilege.Ptz, Privilege.All })
        {
            Assert.True(index.IsAllowed(Owner, Nvr, 1, p));
            Assert.True(index.IsAllowed(Owner, Nvr, 64, p));
        }
        Assert.False(index.IsAllowed(Owner, OtherNvr, 1, Privilege.LiveView));
        Assert.False(index.IsAllowed(Owner, Nvr, 0, Privilege.LiveView));
        Assert.False(index.IsAllowed(Owner, Nvr, 1, Privilege.None));
    }

    [Fact]
    public void AcceptedShare_GivesOnlyItsChannelsAndPrivileges()
    {
        var index = Build(Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView | Privilege.Ptz, 1, 2)));
        Assert.True(index.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.True(index.IsAllowed(Bob, Nvr, 2, Privilege.Ptz));
        Assert.False(index.IsAllowed(Bob, Nvr, 3, Privilege.LiveView));
        Assert.False(index.IsAllowed(Bob, Nvr, 1, Privilege.Playback));
        Assert.False(index.IsAllowed(Bob, Nvr, 1, Privilege.LiveView | Privilege.Playback));
        Assert.True(index.IsAllowed("BOB@example.com", Nvr, 1, Privilege.LiveView)); // accounts compare case-insensitively
        Assert.False(index.IsAllowed(Carol, Nvr, 1, Privilege.LiveView));
    }

    [Fact]
    public void EmptyChannelList_MeansAllChannels()
    {
        var index = Build(Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.Playback)));
        Assert.True(index.IsAllowed(Bob, Nvr, 1, Privilege.Playback));
        Assert.True(index.IsAllowed(Bob, Nvr, 256, Privilege.Playback));
        Assert.False(index.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
    }

    [Theory]
    [InlineData(ShareState.Pending)]
    [InlineData(ShareState.Rejected)]
    [InlineData(ShareState.Deleted)]
    public void ShareNotAccepted_GivesNothing(ShareState state)
    {
        var index = Build(Share("sh-1", Bob, state, On(Nvr, Privilege.All)));
        Assert.False(index.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.Empty(index.GetVisibleDevices(Bob));
    }

    [Fact]
    public void ExpiredShare_GivesNothing_AndUnexpiredSetsNextExpiry()
    {
        var expired = Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.All)) with { ExpiresAt = Now };
        var later = Share("sh-2", Carol, ShareState.Accepted, On(Nvr, Privilege.All)) with { ExpiresAt = Now.AddHours(1) };
        var index = Build(expired, later);
        Assert.False(index.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.True(index.IsAllowed(Carol, Nvr, 1, Privilege.LiveView));
        Assert.Equal(Now.AddHours(1), index.NextExpiry);
    }

    [Fact]
    public void Share_OnDeviceTheShareOwnerDoesNotOwn_GivesNothing()
    {
        var devices = new[] { new GrantDevice(Nvr, Owner), new GrantDevice(OtherNvr, "someone@example.com") };
        var share = Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView), On(OtherNvr, Privilege.LiveView), On("not-listed", Privilege.LiveView));
        var index = AccessIndex.Build(GrantsState.FromSnapshot(Snapshot(1, [share], devices)), Now);
        Assert.True(index.IsAllowed(Bob, Nvr, 1, Privilege.LiveView));
        Assert.False(index.IsAllowed(Bob, OtherNvr, 1, Privilege.LiveView));
        Assert.False(index.IsAllowed(Bob, "not-listed", 1, Privilege.LiveView));
    }

    [Fact]
    public void TwoSharesToSameRecipient_Combine()
    {
        var index = Build(
            Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView, 1)),
            Share("sh-2", Bob, ShareState.Accepted, On(Nvr, Privilege.Playback, 1, 2)));
        Assert.True(index.IsAllowed(Bob, Nvr, 1, Privilege.LiveView | Privilege.Playback));
        Assert.False(index.IsAllowed(Bob, Nvr, 2, Privilege.LiveView));
    }

    [Fact]
    public void VisibleDevices_ListOwnerAndSharedChannels()
    {
        var index = Build(Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView | Privilege.AlarmPush, 2)));
        var owner = Assert.Single(index.GetVisibleDevices(Owner));
        Assert.True(owner.IsOwner);
        Assert.Equal(new ChannelAccess(0, Privilege.All), Assert.Single(owner.Channels));
        var bob = Assert.Single(index.GetVisibleDevices(Bob));
        Assert.False(bob.IsOwner);
        Assert.Equal(new ChannelAccess(2, Privilege.LiveView | Privilege.AlarmPush), Assert.Single(bob.Channels));
    }

    [Fact]
    public void AlarmRecipients_AreOwnerPlusAcceptedSharesWithAlarmPushOnThatChannel()
    {
        var index = Build(
            Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.AlarmPush, 1)),
            Share("sh-2", Carol, ShareState.Accepted, On(Nvr, Privilege.LiveView)),
            Share("sh-3", "dave@example.com", ShareState.Pending, On(Nvr, Privilege.AlarmPush)));
        Assert.Equal([Owner, Bob], index.GetAlarmRecipients(Nvr, 1));
        Assert.Equal([Owner], index.GetAlarmRecipients(Nvr, 2));
        Assert.Empty(index.GetAlarmRecipients(OtherNvr, 1));
    }

    [Fact]
    public void IsAllowed_AllocatesNothing()
    {
        var index = Build(Share("sh-1", Bob, ShareState.Accepted, On(Nvr, Privilege.LiveView, 1, 2)));
        index.IsAllowed(Bob, Nvr, 1, Privilege.LiveView); // warm up
        var before = GC.GetAllocatedBytesForCurrentThread();
        var allowed = 0;
        for (var i = 0; i < 10_000; i++)
        {
            allowed += index.IsAllowed(Bob, Nvr, 1 + (i & 3), Privilege.LiveView) ? 1 : 0;
            allowed += index.IsAllowed(Carol, Nvr, 1, Privilege.LiveView) ? 1 : 0;
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(5_000, allowed);
    }
}
