using HikShareGateway.Cloud;

namespace HikShareGateway.Tests.Cloud;

/// <summary><c>Cloud:Broker</c> / <c>Cloud:Brokers</c> (§3.1) as an installer writes them.</summary>
[Trait("Category", "Unit")]
public sealed class CloudBrokersOptionsTests
{
    [Fact]
    public void Brokers_AreTriedInTheOrderListed()
    {
        var o = new CloudLinkOptions { Brokers = ["mqtt://node1:1883", "mqtts://node2", "mqtt://node3:11883"] };
        var errors = new List<string>();
        o.Validate(errors);
        Assert.Empty(errors);
        Assert.True(o.HasBroker);
        Assert.Equal(["mqtt://node1:1883", "mqtts://node2:8883", "mqtt://node3:11883"], o.BrokerAddresses().Select(b => b.ToString()));
    }

    [Fact]
    public void BrokerAndBrokers_Together_AndABadEntry_AreEachNamed()
    {
        var o = new CloudLinkOptions { Broker = "mqtt://one:1883", Brokers = ["mqtt://node1:1883", "http://node2"], ResyncWaitSeconds = 0 };
        var errors = new List<string>();
        o.Validate(errors);
        Assert.Contains(errors, e => e.Contains("Cloud:Broker and Cloud:Brokers are both set"));
        Assert.Contains(errors, e => e.StartsWith("Cloud:Brokers:1 \"http://node2\"", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Cloud:ResyncWaitSeconds", StringComparison.Ordinal));
    }

    [Fact]
    public void OneBroker_StaysValid_AndAllBrokersStartsWithIt()
    {
        var o = new CloudLinkOptions { Broker = "mqtt://127.0.0.1:1883" };
        var errors = new List<string>();
        o.Validate(errors);
        Assert.Empty(errors);
        var settings = CloudClientSettings.From(o, "gw-1", o.BrokerAddresses(), "test", DateTimeOffset.UnixEpoch);
        Assert.Equal("mqtt://127.0.0.1:1883", Assert.Single(settings.AllBrokers).ToString());
    }
}
