using System.Net;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Ptz;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Isapi;
using HikShareGateway.Onvif.Ptz;
using HikShareGateway.Tests.Http;
using HikShareGateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Isapi;

/// <summary>PTZ over Hikvision ISAPI (the fallback where ONVIF PTZ is missing), against the ISAPI simulator.</summary>
[Trait("Category", "Unit")]
public sealed class IsapiPtzTests : IAsyncDisposable
{
    private const string Device = "nvr-isapi";
    private readonly IsapiSimulator _sim = new();
    private readonly IsapiClientPool _pool = new(new OnvifOptions { RequestTimeoutSeconds = 5 });

    public async ValueTask DisposeAsync()
    {
        _pool.Dispose();
        await _sim.DisposeAsync();
    }

    private static DeviceInfo IsapiDevice(string id, Uri isapi, string password = "isapi-Pw1", OnvifEndpoints? onvif = null, bool onvifPtz = false) => new()
    {
        DeviceId = id,
        Credentials = new DeviceCredentials("admin", password),
        IsapiBase = isapi,
        Onvif = onvif,
        Channels = [new ChannelInfo { Channel = 1, MainUri = new Uri("rtsp://192.0.2.20/Streaming/Channels/101"), Ptz = onvifPtz, MainProfileToken = onvifPtz ? "Profile_1" : null }],
    };

    private DevicePtzService Service(params DeviceInfo[] devices)
    {
        var catalog = new StaticDeviceCatalog(devices.Length == 0 ? [IsapiDevice(Device, _sim.BaseUri)] : devices);
        var onvif = new OnvifPtzService(catalog, new OnvifClientPool(new OnvifOptions(), TimeProvider.System, NullLoggerFactory.Instance), NullLogger<OnvifPtzService>.Instance);
        return new DevicePtzService(catalog, onvif, new IsapiPtzService(catalog, _pool));
    }

    [Fact]
    public async Task IsapiPtz_ContinuousMove_PutsPtzDataWithDigest_AndStopPutsZeros()
    {
        var ptz = Service();
        await ptz.MoveAsync(Device, 1, new PtzMove(PtzMoveMode.Continuous, 0.6, -0.25, 0, null, TimeSpan.FromSeconds(1)), default);
        await ptz.StopAsync(Device, 1, default);

        var first = _sim.Requests.First();
        Assert.False(first.Authorized); // no credentials until the device's challenge
        Assert.Equal(["PUT /ISAPI/PTZCtrl/channels/1/continuous", "PUT /ISAPI/PTZCtrl/channels/1/continuous"], _sim.Authorized);
        var bodies = _sim.Requests.Where(r => r.Authorized).Select(r => r.Body).ToList();
        Assert.Contains("<PTZData version=\"2.0\" xmlns=\"http://www.hikvision.com/ver20/XMLSchema\"><pan>60</pan><tilt>-25</tilt><zoom>0</zoom></PTZData>", bodies[0]);
        Assert.Contains("<pan>0</pan><tilt>0</tilt><zoom>0</zoom>", bodies[1]);
        Assert.All(_sim.Requests.Where(r => r.Authorized), r => Assert.StartsWith("Digest username=\"admin\"", r.Authorization));
        Assert.DoesNotContain(_sim.Requests, r => r.Authorization?.Contains("isapi-Pw1") == true);
    }

    [Fact]
    public async Task IsapiPtz_Presets_ListsTheSetOnes_AndGotoPutsTheNumber()
    {
        var ptz = Service();
        var presets = await ptz.GetPresetsAsync(Device, 1, default);
        Assert.Equal([new PtzPreset("1", "Gate"), new PtzPreset("2", "Yard")], presets);
        await ptz.GotoPresetAsync(Device, 1, "2", default);
        Assert.Equal(["GET /ISAPI/PTZCtrl/channels/1/presets", "PUT /ISAPI/PTZCtrl/channels/1/presets/2/goto"], _sim.Authorized);
        var e = await Assert.ThrowsAsync<DeviceException>(() => ptz.GotoPresetAsync(Device, 1, "Profile_1_Preset", default));
        Assert.Equal(DeviceErrorKind.NotSupported, e.Kind);
    }

    [Fact]
    public async Task IsapiPtz_Failures_MapToDeviceErrorKinds()
    {
        var ptz = Service();
        var absolute = await Assert.ThrowsAsync<DeviceException>(() => ptz.MoveAsync(Device, 1, new PtzMove(PtzMoveMode.Absolute, 0.1, 0.1, null, null, null), default));
        Assert.Equal(DeviceErrorKind.NotSupported, absolute.Kind); // → 409

        _sim.Ptz = false;
        var none = await Assert.ThrowsAsync<DeviceException>(() => ptz.StopAsync(Device, 1, default));
        Assert.Equal(DeviceErrorKind.NotSupported, none.Kind);

        var wrong = Service(IsapiDevice("nvr-wrong-pw", _sim.BaseUri, password: "nope"));
        var denied = await Assert.ThrowsAsync<DeviceException>(() => wrong.StopAsync("nvr-wrong-pw", 1, default));
        Assert.Equal(DeviceErrorKind.Unauthorized, denied.Kind);
        Assert.DoesNotContain("127.0.0.1", denied.Message);
    }

    [Fact]
    public void IsapiPtz_ChosenOnlyWhereOnvifPtzIsMissing()
    {
        var onvif = new OnvifEndpoints { Device = new Uri("http://192.0.2.30/onvif/device_service"), Ptz = new Uri("http://192.0.2.30/onvif/ptz") };
        var ptz = Service(
            IsapiDevice("isapi-only", _sim.BaseUri),
            IsapiDevice("both", _sim.BaseUri, onvif: onvif, onvifPtz: true),
            IsapiDevice("onvif-no-ptz", _sim.BaseUri, onvif: onvif with { Ptz = null }),
            new DeviceInfo { DeviceId = "plain", Channels = [new ChannelInfo { Channel = 1 }] });
        Assert.IsType<IsapiPtzService>(ptz.For("isapi-only", 1));
        Assert.IsType<OnvifPtzService>(ptz.For("both", 1));
        Assert.IsType<IsapiPtzService>(ptz.For("onvif-no-ptz", 1));
        Assert.IsType<OnvifPtzService>(ptz.For("plain", 1)); // → NotSupported (409) from ONVIF
        Assert.IsType<OnvifPtzService>(ptz.For("unknown", 1));
    }

    [Fact]
    public async Task IsapiPtz_ThroughTheHttpApi_TimeoutStopStillApplies()
    {
        // The HTTP layer's safety rules sit above IPtzService: the gateway's own timeout Stop reaches ISAPI as 0/0/0.
        var catalog = new StaticDeviceCatalog([IsapiDevice(ApiTestHost.Device, _sim.BaseUri)]);
        var onvif = new OnvifPtzService(catalog, new OnvifClientPool(new OnvifOptions(), TimeProvider.System, NullLoggerFactory.Instance), NullLogger<OnvifPtzService>.Instance);
        await using var host = await ApiTestHost.StartAsync(s => s.AddSingleton<IPtzService>(new DevicePtzService(catalog, onvif, new IsapiPtzService(catalog, _pool))));
        host.Policy.Grant("bob@example.com", ApiTestHost.Device, 1, Privilege.LiveView | Privilege.Ptz);

        var r = await host.SendAsync(HttpMethod.Post, "/api/v1/devices/cam-1/channels/1/ptz/move", "tok-bob", """{"mode":"continuous","pan":-0.5,"tilt":0.3,"zoom":0,"timeoutMs":1000}""");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(["PUT /ISAPI/PTZCtrl/channels/1/continuous"], _sim.Authorized);
        Assert.Contains("<pan>-50</pan><tilt>30</tilt><zoom>0</zoom>", _sim.Requests.Last().Body);

        host.Time.Advance(TimeSpan.FromMilliseconds(1000));
        await Wait.UntilAsync(() => _sim.Authorized.Count == 2, "the gateway's timeout stop", 5000);
        Assert.Contains("<pan>0</pan><tilt>0</tilt><zoom>0</zoom>", _sim.Requests.Last(x => x.Authorized).Body);

        var absolute = await host.SendAsync(HttpMethod.Post, "/api/v1/devices/cam-1/channels/1/ptz/move", "tok-bob", """{"mode":"absolute","pan":0.1,"tilt":0.1}""");
        Assert.Equal(HttpStatusCode.Conflict, absolute.StatusCode);
    }
}
