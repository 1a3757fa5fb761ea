using HikShareGateway.Core.Cloud;

namespace HikShareGateway.Tests.Cloud;

[Trait("Category", "Unit")]
public sealed class CloudTopicsTests
{
    [Fact]
    public void Topics_FollowContractSection3And31_UnderPrefixAndGateway()
    {
        var t = new CloudTopics("hikshare/v1", "gw-lab-01");
        Assert.Equal("hikshare/v1/gateways/gw-lab-01/grants", t.Grants);
        Assert.Equal("hikshare/v1/gateways/gw-lab-01/grants/delta", t.GrantsDelta);
        Assert.Equal("hikshare/v1/gateways/gw-lab-01/grants/resync", t.GrantsResync);
        Assert.Equal("hikshare/v1/gateways/gw-lab-01/status", t.Status);
        Assert.Equal("hikshare/v1/gateways/gw-lab-01/devices", t.Devices);
        Assert.Equal("hikshare/v1/gateways/gw-lab-01/alarms", t.Alarms);
        Assert.Equal("hikshare/v1/gateways/gw-lab-01/audit", t.Audit);
        Assert.Equal("hikshare/v1/gateways/gw-lab-01/webrtc/offer", t.WebRtcOffer);
        Assert.Equal("hikshare/v1/gateways/gw-lab-01/webrtc/answer", t.WebRtcAnswer);
        Assert.Equal("hikshare/v1/gateways/gw-lab-01/webrtc/close", t.WebRtcClose);
    }

    [Fact]
    public void For_SubTopic_GivesTheSameStringAsTheProperty_AndAppendsUnknownOnes()
    {
        var t = new CloudTopics("acme/x", "gw");
        Assert.Same(t.Audit, t.For(CloudTopics.AuditSubTopic));
        Assert.Same(t.GrantsResync, t.For(CloudTopics.GrantsResyncSubTopic));
        Assert.Same(t.WebRtcAnswer, t.For(CloudTopics.WebRtcAnswerSubTopic));
        Assert.Equal("acme/x/gateways/gw/other/thing", t.For("other/thing"));
        Assert.Equal(t.Grants, t.GrantsFor(delta: false));
        Assert.Equal(t.GrantsDelta, t.GrantsFor(delta: true));
    }
}
