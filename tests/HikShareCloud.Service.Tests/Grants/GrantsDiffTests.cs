using HikShareCloud.Service.Grants;
using HikShareCloud.Service.Mqtt;
using HikShareGateway.Access.Grants;
using HikShareGateway.Core.Access;

namespace HikShareCloud.Service.Tests.Grants;

[Trait("Category", "Unit")]
public sealed class GrantsDiffTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);

    private static Share Share(string id, string recipient, ShareState state, params int[] channels)
        => new(id, "owner@example.com", recipient, null, state, null, [new ShareDevice("NVR", channels, Privilege.LiveView)]);

    private static GrantsSnapshot Snapshot(long version, GrantDevice[] devices, params Share[] shares) => new("gw", version, Now, devices, shares);

    [Fact]
    public void Diff_Identical_Null()
    {
        var a = Snapshot(1, [new GrantDevice("NVR", "owner@example.com")], Share("sh-1", "bob@example.com", ShareState.Accepted, 1));
        var b = Snapshot(2, [new GrantDevice("NVR", "owner@example.com")], Share("sh-1", "bob@example.com", ShareState.Accepted, 1));
        Assert.Null(GrantsBuilder.Diff(a, b, Now));
    }

    [Fact]
    public void Diff_ChangedShareRemovedShareAndDevice_UpsertsAndRemovesExactlyThose_ApplyingGivesTheNewSnapshot()
    {
        var a = Snapshot(4, [new GrantDevice("NVR", "owner@example.com"), new GrantDevice("OLD", "owner@example.com")],
            Share("sh-1", "bob@example.com", ShareState.Pending, 1), Share("sh-2", "carol@example.com", ShareState.Accepted, 2), Share("sh-3", "dan@example.com", ShareState.Accepted));
        var b = Snapshot(5, [new GrantDevice("NVR", "owner@example.com")],
            Share("sh-1", "bob@example.com", ShareState.Accepted, 1), Share("sh-3", "dan@example.com", ShareState.Accepted));
        var d = GrantsBuilder.Diff(a, b, Now)!;
        Assert.Equal((4L, 5L), (d.BaseVersion, d.Version));
        Assert.Equal(["sh-1"], d.UpsertShares.Select(s => s.ShareId));
        Assert.Equal(["sh-2"], d.RemoveShares);
        Assert.Equal(["OLD"], d.RemoveDevices);
        Assert.Empty(d.UpsertDevices);
        var applied = GrantsState.FromSnapshot(a).Apply(d);
        Assert.Equal(GrantsJson.Write(b with { IssuedAt = Now }).Length, GrantsJson.Write(applied.ToSnapshot("gw") with { IssuedAt = Now }).Length);
        Assert.Equal(["sh-1", "sh-3"], applied.Shares.Keys.Order());
        Assert.Equal(ShareState.Accepted, applied.Shares["sh-1"].State);
    }

    [Fact]
    public void Diff_OnlyChannelsChanged_ShareUpserted()
    {
        var a = Snapshot(1, [], Share("sh-1", "bob@example.com", ShareState.Accepted, 1, 2));
        var b = Snapshot(2, [], Share("sh-1", "bob@example.com", ShareState.Accepted, 1));
        Assert.Equal(["sh-1"], GrantsBuilder.Diff(a, b, Now)!.UpsertShares.Select(s => s.ShareId));
    }

    [Theory]
    [InlineData("hikshare/v1/gateways/gw-1/grants/resync", "gw-1", "grants/resync")]
    [InlineData("hikshare/v1/gateways/gw-1/devices", "gw-1", "devices")]
    [InlineData("hikshare/v1/gateways/a b/binding", "a b", "binding")]
    public void Topics_TryParse_GatewayAndKind(string topic, string gateway, string kind)
    {
        var t = new SharingTopics("hikshare/v1");
        Assert.True(t.TryParse(topic, out var g, out var k));
        Assert.Equal((gateway, kind), (g, k));
    }

    [Fact]
    public void Topics_TryParse_EveryProperPrefixOfATopic_False()
    {
        var t = new SharingTopics("hikshare/v1");
        const string topic = "hikshare/v1/gateways/gw-1/devices";
        for (var n = 0; n < "hikshare/v1/gateways/gw-1/".Length + 1; n++)
        {
            Assert.False(t.TryParse(topic[..n], out _, out _), topic[..n]);
        }
        Assert.False(t.TryParse("other/v1/gateways/gw-1/devices", out _, out _));
    }

    [Fact]
    public void Topics_BuiltTopics_ParseBack()
    {
        var t = new SharingTopics("site/x/");
        Assert.Equal("site/x/gateways/gw-1/grants", t.Grants("gw-1"));
        Assert.Equal("site/x/gateways/gw-1/grants/delta", t.Delta("gw-1"));
        Assert.True(t.TryParse(t.Resync("gw-1"), out var g, out var k));
        Assert.Equal(("gw-1", SharingTopics.ResyncKind), (g, k));
        Assert.All(t.Subscriptions, s => Assert.StartsWith("site/x/gateways/+/", s));
    }
}
