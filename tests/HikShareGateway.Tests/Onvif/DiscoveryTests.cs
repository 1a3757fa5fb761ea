using System.Net.Sockets;
using System.Net;
using System.Text;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Catalog;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Discovery;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Onvif.Simulator;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Onvif;

/// <summary>
/// WS-Discovery over real UDP multicast (239.255.255.250) on the loopback interface. Each test uses its own free UDP
/// port instead of 3702 so parallel runs on this machine do not hear each other; nothing leaves loopback.
/// </summary>
[Trait("Category", "Unit")]
public sealed class DiscoveryTests : IAsyncLifetime
{
    private OnvifSimulator _sim = null!;
    private SimDiscoveryResponder _responder = null!;
    private int _port;

    public Task InitializeAsync()
    {
        _sim = new OnvifSimulator(new SimDevice { Name = "Lab NVR #2", Location = "shop/front door" });
        _port = FreeUdpPort();
        _responder = new SimDiscoveryResponder(_sim, _port);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _responder.DisposeAsync();
        await _sim.DisposeAsync();
    }

    private static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    private OnvifOptions Options() => new() { DiscoveryInterface = "127.0.0.1", DiscoveryPort = _port, DiscoveryWaitSeconds = 1, RequestTimeoutSeconds = 5 };

    [Fact]
    public void ProbeMatch_Parse_DecodesScopesAndMixedXAddrs()
    {
        var xml = """
            <s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
              <s:Header><a:MessageID>uuid:1</a:MessageID><a:RelatesTo>uuid:probe-7</a:RelatesTo></s:Header>
              <s:Body><d:ProbeMatches><d:ProbeMatch>
                <a:EndpointReference><a:Address>urn:uuid:4f8b0a2c-1d2e-11b2-8000-bcad28d1c1a0</a:Address></a:EndpointReference>
                <d:Types>dn:NetworkVideoTransmitter</d:Types>
                <d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/HIKVISION%20DS-7608NI onvif://www.onvif.org/hardware/DS-7608NI-K2 onvif://www.onvif.org/location/city/hangzhou</d:Scopes>
                <d:XAddrs>http://[fe80::bead:28ff:fed1:c1a0]/onvif/device_service http://192.0.2.64/onvif/device_service</d:XAddrs>
                <d:MetadataVersion>10</d:MetadataVersion>
              </d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>
            """;
        var m = WsDiscoveryMessages.Parse(Encoding.UTF8.GetBytes(xml));
        Assert.Equal(DiscoveryMessageKind.ProbeMatches, m.Kind);
        Assert.Equal("uuid:probe-7", m.RelatesTo);
        var e = Assert.Single(m.Endpoints);
        Assert.Equal("urn:uuid:4f8b0a2c-1d2e-11b2-8000-bcad28d1c1a0", e.Address);
        Assert.True(e.IsNetworkVideoTransmitter);
        Assert.Equal("HIKVISION DS-7608NI", e.Scopes.Name);
        Assert.Equal("DS-7608NI-K2", e.Scopes.Hardware);
        Assert.Equal("city/hangzhou", e.Scopes.Location);
        Assert.Equal(2, e.XAddrs.Count);
        Assert.Equal(UriHostNameType.IPv6, e.XAddrs[0].HostNameType);
        Assert.Equal("192.0.2.64", e.PreferredXAddr!.Host);
        Assert.Equal(10, e.MetadataVersion);
    }

    [Fact]
    public void Garbage_IsAClearError()
    {
        Assert.Throws<DeviceException>(() => WsDiscoveryMessages.Parse("M-SEARCH * HTTP/1.1\r\n\r\n"u8));
        Assert.Throws<DeviceException>(() => WsDiscoveryMessages.Parse("<Envelope/>"u8));
    }

    [Fact]
    public async Task Probe_OverLoopbackMulticast_FindsTheSimulator()
    {
        var client = new WsDiscoveryClient(IPAddress.Loopback, _port);
        // Noise on the group must not disturb anything.
        await _responder.SendRawAsync("not xml at all"u8.ToArray());
        var found = await client.ProbeAsync(TimeSpan.FromSeconds(1), default);
        var e = Assert.Single(found);
        Assert.Equal(_responder.EndpointAddress, e.Address);
        Assert.Equal("Lab NVR #2", e.Scopes.Name);
        Assert.Equal("DS-7608NI-K2", e.Scopes.Hardware);
        Assert.Equal("shop/front door", e.Scopes.Location);
        Assert.Equal($"http://127.0.0.1:{_sim.EndPoint.Port}/onvif/device_service", e.PreferredXAddr!.ToString());
        Assert.Contains(e.XAddrs, x => x.HostNameType == UriHostNameType.IPv6);
        Assert.True(_responder.ProbesAnswered >= 1);
    }

    [Fact]
    public async Task Probe_NobodyAnswers_ReturnsEmptyAfterTheWait()
    {
        var client = new WsDiscoveryClient(IPAddress.Loopback, FreeUdpPort());
        Assert.Empty(await client.ProbeAsync(TimeSpan.FromMilliseconds(500), default));
    }

    [Fact]
    public async Task Manager_DiscoveredDeviceMatchingConfiguredAddress_UsesItsCredentials_ByeMarksOffline_HelloBringsBack()
    {
        var catalog = new OnvifDeviceCatalog([]);
        using var pool = new OnvifClientPool(Options(), TimeProvider.System, NullLoggerFactory.Instance);
        var config = new DeviceOptions { OnvifUrl = _sim.DeviceServiceUri.ToString(), Username = _sim.Device.Username, Password = _sim.Device.Password };
        using var manager = CatalogTests.Manager(catalog, pool, [config], Options(), discovery: true);
        await manager.StartAsync(default);
        await Wait.UntilAsync(() => catalog.Devices.Count == 1 && catalog.Devices[0].Online, "device online", 10_000);
        // The probe match is merged with the configured entry (same address), not added as a second device.
        await Wait.UntilAsync(() => manager.KnowsEndpoint(_responder.EndpointAddress), "the probe match tied to the configured device", 15_000);
        Assert.Single(catalog.Devices);

        await _responder.SendByeAsync();
        await Wait.UntilAsync(() => !catalog.Devices[0].Online, "offline after Bye", 10_000);
        await _responder.SendHelloAsync();
        await Wait.UntilAsync(() => catalog.Devices[0].Online, "online after Hello", 10_000);
        Assert.Equal(_sim.Device.Serial, catalog.Devices[0].DeviceId);
        Assert.Equal(2, catalog.Devices[0].Channels.Count);
        await manager.StopAsync(default);
    }

    [Fact]
    public async Task Manager_DiscoveredDeviceWithoutCredentials_IsListedButNotUsable()
    {
        var catalog = new OnvifDeviceCatalog([]);
        using var pool = new OnvifClientPool(Options(), TimeProvider.System, NullLoggerFactory.Instance);
        using var manager = CatalogTests.Manager(catalog, pool, [], Options(), discovery: true);
        await manager.StartAsync(default);
        await Wait.UntilAsync(() => catalog.Devices.Count == 1, "the discovered device listed", 10_000);
        await manager.StopAsync(default);
        var d = catalog.Devices[0];
        Assert.Equal("onvif-" + _responder.EndpointAddress["urn:uuid:".Length..], d.DeviceId);
        Assert.Equal("DS-7608NI-K2", d.Model);
        Assert.Empty(d.Channels);
        Assert.Equal(DeviceSource.Discovery, d.Source);
    }

    [Fact]
    public async Task Manager_DiscoveredDeviceMovesToANewAddress_IsFollowedByItsEndpointUuid()
    {
        await using var open1 = new OnvifSimulator(new SimDevice { Auth = SimAuth.None, Serial = "CAM-MOVING-1" });
        var port = FreeUdpPort();
        var first = new SimDiscoveryResponder(open1, port);
        var catalog = new OnvifDeviceCatalog([]);
        using var pool = new OnvifClientPool(Options(), TimeProvider.System, NullLoggerFactory.Instance);
        var options = Options();
        options.DiscoveryPort = port;
        using var manager = CatalogTests.Manager(catalog, pool, [], options, discovery: true);
        await manager.StartAsync(default);
        await Wait.UntilAsync(() => catalog.TryGetDevice("CAM-MOVING-1", out _), "the open camera", 10_000);
        var firstUrl = catalog.Devices.Single().Onvif!.Device;

        // DHCP gave the camera another address: the same endpoint UUID says Hello from there.
        await using var open2 = new OnvifSimulator(new SimDevice { Auth = SimAuth.None, Serial = "CAM-MOVING-1" });
        await first.DisposeAsync();
        await open1.DisposeAsync();
        await using var second = new SimDiscoveryResponder(open2, port, endpointAddress: first.EndpointAddress);
        await second.SendHelloAsync();
        await Wait.UntilAsync(() => catalog.Devices.Single().Onvif!.Device.Port == open2.EndPoint.Port, "the device followed to its new address", 10_000);
        Assert.NotEqual(firstUrl, catalog.Devices.Single().Onvif!.Device);
        Assert.True(catalog.Devices.Single().Online);
        await manager.StopAsync(default);
    }
}
