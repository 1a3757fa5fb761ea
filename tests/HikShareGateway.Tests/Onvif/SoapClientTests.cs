using System.Text;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Onvif.Simulator;

namespace HikShareGateway.Tests.Onvif;

/// <summary>The SOAP client and device reader against the ONVIF simulator on 127.0.0.1.</summary>
[Trait("Category", "Unit")]
public sealed class SoapClientTests : IAsyncLifetime
{
    private readonly HttpClient _http = new();
    private OnvifSimulator _sim = null!;

    public Task InitializeAsync()
    {
        _sim = new OnvifSimulator();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _sim.DisposeAsync();
    }

    [Fact]
    public async Task ReadDevice_TwoChannelNvr_MapsSourcesToChannels_MainIsHighestResolution_AddressesRewritten()
    {
        var snapshot = await OnvifDeviceReader.ReadAsync(OnvifTestKit.Client(_sim, _http), TimeProvider.System, default);
        var d = snapshot.Device;
        Assert.Equal(_sim.Device.Serial, d.DeviceId);
        Assert.Equal("HIKVISION", d.Manufacturer);
        Assert.Equal("DS-7608NI-K2", d.Model);
        Assert.Equal(_sim.Device.Name, d.Name); // the ONVIF name scope
        Assert.Contains("GetScopes", _sim.Operations);
        Assert.Equal(2, d.Channels.Count);
        var port = _sim.EndPoint.Port;
        var c1 = d.Channels[0];
        Assert.Equal(1, c1.Channel);
        Assert.Equal("Profile_101", c1.MainProfileToken);
        Assert.Equal("Profile_102", c1.SubProfileToken);
        // The device wrote 127.0.0.2 (its "own" address); the gateway reaches it at 127.0.0.1.
        Assert.Equal("rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_101", c1.MainUri!.OriginalString);
        Assert.Equal("rtsp://127.0.0.1:554/Streaming/Channels/102?transportmode=unicast&profile=Profile_102", c1.SubUri!.OriginalString);
        Assert.True(c1.Ptz);
        Assert.True(c1.Backchannel);
        Assert.True(c1.Playback);
        var c2 = d.Channels[1];
        Assert.Equal("rtsp://127.0.0.1:554/Streaming/Channels/201?transportmode=unicast&profile=Profile_201", c2.MainUri!.OriginalString);
        Assert.False(c2.Ptz);
        Assert.False(c2.Backchannel);
        Assert.Equal($"http://127.0.0.1:{port}/onvif/Events", d.Onvif!.Events!.OriginalString);
        Assert.Equal($"http://127.0.0.1:{port}/onvif/PTZ", d.Onvif.Ptz!.OriginalString);
        Assert.Equal(1, snapshot.ChannelByToken["VideoSource_1"]);
        Assert.Equal(2, snapshot.ChannelByToken["VideoSourceConfig_2"]);
        Assert.True(_sim.UsernameTokenAuthentications > 0);
        Assert.Equal("GetSystemDateAndTime", _sim.Operations.First());
    }

    [Fact]
    public async Task ReadDevice_NvrWithEightLinkedCameras_GivesEightChannels()
    {
        await using var sim = new OnvifSimulator(new SimDevice { Channels = 8 });
        var d = (await OnvifDeviceReader.ReadAsync(OnvifTestKit.Client(sim, _http), TimeProvider.System, default)).Device;
        Assert.Equal(Enumerable.Range(1, 8), d.Channels.Select(c => c.Channel));
        Assert.Equal("rtsp://127.0.0.1:554/Streaming/Channels/801?transportmode=unicast&profile=Profile_801", d.Channels[7].MainUri!.OriginalString);
    }

    [Fact]
    public async Task ReadDevice_Media2Device_UsesMedia2ProfilesAndStreamUris()
    {
        await using var sim = new OnvifSimulator(new SimDevice { Media2 = true });
        var d = (await OnvifDeviceReader.ReadAsync(OnvifTestKit.Client(sim, _http), TimeProvider.System, default)).Device;
        Assert.Contains("tr2:GetProfiles", sim.Operations);
        Assert.Contains("tr2:GetStreamUri", sim.Operations);
        Assert.Equal("Profile_101", d.Channels[0].MainProfileToken);
        Assert.True(d.Channels[0].Ptz);
        Assert.True(d.Channels[0].Backchannel);
    }

    [Fact]
    public async Task DeviceClockOneHourAhead_OffsetCorrected_UsernameTokenAccepted()
    {
        await using var sim = new OnvifSimulator(new SimDevice { ClockSkew = TimeSpan.FromHours(1) });
        var client = OnvifTestKit.Client(sim, _http);
        var d = (await OnvifDeviceReader.ReadAsync(client, TimeProvider.System, default)).Device;
        Assert.InRange(client.ClockOffset.TotalMinutes, 59, 61);
        Assert.InRange(d.Onvif!.ClockOffset.TotalMinutes, 59, 61);
        Assert.Equal(0, sim.AuthFailures);
    }

    [Fact]
    public async Task DigestOnlyDevice_ClientFallsBackToHttpDigest()
    {
        await using var sim = new OnvifSimulator(new SimDevice { Auth = SimAuth.HttpDigestOnly });
        var client = OnvifTestKit.Client(sim, _http);
        var d = (await OnvifDeviceReader.ReadAsync(client, TimeProvider.System, default)).Device;
        Assert.Equal(sim.Device.Serial, d.DeviceId);
        Assert.True(client.UsesHttpDigest);
        Assert.True(sim.DigestAuthentications >= 5);
    }

    [Theory]
    [InlineData(SimAuth.UsernameToken)]
    [InlineData(SimAuth.HttpDigestOnly)]
    public async Task WrongPassword_IsUnauthorized(SimAuth auth)
    {
        await using var sim = new OnvifSimulator(new SimDevice { Auth = auth });
        var e = await Assert.ThrowsAsync<DeviceException>(() => OnvifDeviceReader.ReadAsync(OnvifTestKit.Client(sim, _http, password: "wrong"), TimeProvider.System, default));
        Assert.Equal(DeviceErrorKind.Unauthorized, e.Kind);
        Assert.DoesNotContain("wrong", e.Message);
    }

    [Fact]
    public async Task MalformedXml_IsClearFailure()
    {
        _sim.Override("GetDeviceInformation", () => new SimResponse(200, "<env:Envelope><env:Body><oops"u8.ToArray()));
        var e = await Assert.ThrowsAsync<DeviceException>(() => Call("GetDeviceInformation"));
        Assert.Equal(DeviceErrorKind.Failed, e.Kind);
        Assert.Contains("not well-formed XML", e.Message);
    }

    [Fact]
    public async Task WrongNamespace_IsClearFailure()
    {
        _sim.Override("GetDeviceInformation", () => OnvifSimulator.Ok(new System.Xml.Linq.XElement(System.Xml.Linq.XName.Get("GetDeviceInformationResponse", "http://example.com/not-onvif"))));
        var body = await Call("GetDeviceInformation");
        var e = Assert.Throws<DeviceException>(() => DeviceParsers.ParseDeviceInformation(body));
        Assert.Contains("expected {http://www.onvif.org/ver10/device/wsdl}GetDeviceInformationResponse", e.Message);
        Assert.Contains("http://example.com/not-onvif", e.Message);
    }

    [Fact]
    public async Task NotAnEnvelope_IsClearFailure()
    {
        _sim.Override("GetDeviceInformation", () => new SimResponse(200, "<html><body>login</body></html>"u8.ToArray(), "text/html"));
        var e = await Assert.ThrowsAsync<DeviceException>(() => Call("GetDeviceInformation"));
        Assert.Contains("not a SOAP envelope", e.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task HugeBody_IsRefused_WithAndWithoutContentLength(bool noContentLength)
    {
        var huge = Encoding.UTF8.GetBytes("<x>" + new string('a', 3 * 1024 * 1024) + "</x>");
        _sim.Override("GetDeviceInformation", () => new SimResponse(200, huge, NoContentLength: noContentLength));
        var e = await Assert.ThrowsAsync<DeviceException>(() => Call("GetDeviceInformation"));
        Assert.Equal(DeviceErrorKind.Failed, e.Kind);
        Assert.Contains("larger than Onvif:MaxResponseBytes", e.Message);
    }

    [Fact]
    public async Task SlowDevice_TimesOut()
    {
        _sim.Override("GetDeviceInformation", () => OnvifSimulator.Ok(new System.Xml.Linq.XElement(Ns.Tds + "GetDeviceInformationResponse")) with { Delay = TimeSpan.FromSeconds(10) });
        var client = OnvifTestKit.Client(_sim, _http, options: OnvifTestKit.Options(timeoutSeconds: 1));
        var e = await Assert.ThrowsAsync<DeviceException>(() => client.CallAsync(client.DeviceService, OnvifRequests.GetDeviceInformation(), "GetDeviceInformation", default));
        Assert.Equal(DeviceErrorKind.Timeout, e.Kind);
        Assert.Contains("did not answer within 1 s", e.Message);
    }

    [Fact]
    public async Task UnsupportedOperation_FaultBecomesNotSupported()
    {
        var client = OnvifTestKit.Client(_sim, _http);
        var e = await Assert.ThrowsAsync<DeviceException>(() => client.CallAsync(client.DeviceService, new System.Xml.Linq.XElement(Ns.Tds + "GetDot11Status"), "GetDot11Status", default));
        Assert.Equal(DeviceErrorKind.NotSupported, e.Kind);
        Assert.Contains("ter:ActionNotSupported", e.Message);
    }

    [Fact]
    public async Task NothingListening_IsClearFailure()
    {
        var port = PortAllocator.GetFreeTcpPort();
        var client = new OnvifSoapClient(_http, new Uri($"http://127.0.0.1:{port}/onvif/device_service"), new DeviceCredentials("admin", "x"), TimeProvider.System, OnvifTestKit.Options());
        var e = await Assert.ThrowsAsync<DeviceException>(() => client.CallAsync(client.DeviceService, OnvifRequests.GetDeviceInformation(), "GetDeviceInformation", default));
        Assert.Equal(DeviceErrorKind.Failed, e.Kind);
        Assert.StartsWith("GetDeviceInformation: cannot reach the device (ConnectionRefused)", e.Message);
        Assert.DoesNotContain("127.0.0.1", e.Message);
    }

    private Task<System.Xml.Linq.XElement> Call(string op)
    {
        var client = OnvifTestKit.Client(_sim, _http);
        return client.CallAsync(client.DeviceService, new System.Xml.Linq.XElement(Ns.Tds + op), op, default);
    }
}
