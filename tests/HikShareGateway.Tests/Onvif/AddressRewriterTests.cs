using HikShareGateway.Onvif.Client;

namespace HikShareGateway.Tests.Onvif;

[Trait("Category", "Unit")]
public sealed class AddressRewriterTests
{
    private static readonly AddressRewriter ViaNat = new(new Uri("http://203.0.113.7:8081/onvif/device_service"), "10.10.1.60");

    [Fact]
    public void ServiceAddress_NamingTheDevicesOwnIp_TakesTheReachedHostAndPort() =>
        Assert.Equal("http://203.0.113.7:8081/onvif/Events/PullSubManager_5?x=1", ViaNat.Service(new Uri("http://10.10.1.60/onvif/Events/PullSubManager_5?x=1"))!.OriginalString);

    [Fact]
    public void StreamAddress_TakesTheReachedHost_KeepsItsRtspPort() =>
        Assert.Equal("rtsp://203.0.113.7:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1",
            ViaNat.Stream(new Uri("rtsp://10.10.1.60:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"))!.OriginalString);

    [Fact]
    public void AddressOfAnotherHost_IsLeftAlone() =>
        Assert.Equal("rtsp://10.10.1.99:554/x", ViaNat.Stream(new Uri("rtsp://10.10.1.99:554/x"))!.OriginalString);

    [Fact]
    public void ReachedDirectly_NothingChanges()
    {
        var direct = new AddressRewriter(new Uri("http://10.10.1.60/onvif/device_service"), "10.10.1.60");
        Assert.Equal("http://10.10.1.60/onvif/Media", direct.Service(new Uri("http://10.10.1.60/onvif/Media"))!.OriginalString);
    }

    [Fact]
    public void Ipv6_ReachedAndAdvertised()
    {
        var v6 = new AddressRewriter(new Uri("http://[fd00::64]:8080/onvif/device_service"), null);
        Assert.Equal("http://[fd00::64]:8080/onvif/Media", v6.Service(new Uri("http://192.0.2.64/onvif/Media"))!.OriginalString);
        var v4 = new AddressRewriter(new Uri("http://127.0.0.1:8080/onvif/device_service"), "[fe80::1]");
        Assert.Equal("rtsp://127.0.0.1:554/a", v4.Stream(new Uri("rtsp://[fe80::1]:554/a"))!.OriginalString);
    }
}
