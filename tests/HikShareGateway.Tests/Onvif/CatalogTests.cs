using System.Text.Json;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Catalog;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Onvif.Simulator;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace HikShareGateway.Tests.Onvif;

[Trait("Category", "Unit")]
public sealed class CatalogTests : IAsyncLifetime
{
    private OnvifSimulator _sim = null!;
    private OnvifClientPool _pool = null!;

    public Task InitializeAsync()
    {
        _sim = new OnvifSimulator();
        _pool = new OnvifClientPool(OnvifTestKit.Options(), TimeProvider.System, NullLoggerFactory.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _pool.Dispose();
        await _sim.DisposeAsync();
    }

    internal static OnvifDeviceManager Manager(OnvifDeviceCatalog catalog, OnvifClientPool pool, IReadOnlyList<DeviceOptions> devices, OnvifOptions options, bool discovery = false, int probeInterval = 300) =>
        new(catalog, pool, options, new DiscoveryOptions { Enabled = discovery, ProbeIntervalSeconds = probeInterval }, devices, TimeProvider.System, NullLogger<OnvifDeviceManager>.Instance);

    private DeviceOptions ConfigEntry() => new() { OnvifUrl = _sim.DeviceServiceUri.ToString(), Username = _sim.Device.Username, Password = _sim.Device.Password };

    [Fact]
    public async Task ConfiguredOnvifUrl_DeviceAppearsKeyedBySerial_WithChannelsAndCredentials()
    {
        var catalog = new OnvifDeviceCatalog([]);
        var changed = 0;
        catalog.Changed += () => Interlocked.Increment(ref changed);
        using var manager = Manager(catalog, _pool, [ConfigEntry()], OnvifTestKit.Options());
        await manager.StartAsync(default);
        await Wait.UntilAsync(() => catalog.Devices.Count == 1, "the device in the catalog", 10_000);
        await manager.StopAsync(default);

        Assert.True(catalog.TryGetDevice(_sim.Device.Serial, out var d));
        Assert.True(d.Online);
        Assert.Equal(DeviceSource.Configuration, d.Source);
        Assert.Equal(_sim.Device.Password, d.Credentials.Password);
        Assert.Equal(2, d.Channels.Count);
        Assert.Equal("rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_101", d.FindChannel(1)!.MainUri!.OriginalString);
        Assert.True(catalog.TryGetChannel(d.DeviceId, "VideoSourceConfig_2", out var ch));
        Assert.Equal(2, ch);
        Assert.Equal(1, changed);
    }

    [Fact]
    public async Task DeviceFailingRefreshes_GoesOfflineAfterN_AndChangedIsRaised()
    {
        var catalog = new OnvifDeviceCatalog([]);
        var options = OnvifTestKit.Options(timeoutSeconds: 1);
        options.RefreshIntervalSeconds = 1;
        options.OfflineAfterFailures = 2;
        using var manager = Manager(catalog, _pool, [ConfigEntry()], options);
        await manager.StartAsync(default);
        await Wait.UntilAsync(() => catalog.Devices.Count == 1 && catalog.Devices[0].Online, "online", 10_000);
        var offlineRaised = new TaskCompletionSource();
        catalog.Changed += () => { if (!catalog.Devices[0].Online) { offlineRaised.TrySetResult(); } };

        _sim.Override("GetDeviceInformation", () => OnvifSimulator.Fault(500, "env:Receiver", "ter:Action", "device busy"));
        await offlineRaised.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.False(catalog.Devices[0].Online);
        Assert.True(_sim.Operations.Count(o => o == "GetDeviceInformation") >= 3);

        // It comes back: online again at the next successful refresh (after the backoff).
        _sim.ClearOverride("GetDeviceInformation");
        await Wait.UntilAsync(() => catalog.Devices[0].Online, "back online", 15_000);
        await manager.StopAsync(default);
    }

    [Fact]
    public void StaticDevices_FromConfigChannels_AreInTheCatalogWithoutOnvif()
    {
        var catalog = new OnvifDeviceCatalog(StaticDeviceCatalog.FromOptions([new DeviceOptions
        {
            DeviceId = "cam-lab-1",
            Username = "admin",
            Password = "pw",
            Channels = [new ChannelOptions { Channel = 1, Main = "rtsp://127.0.0.1:18554/Streaming/Channels/101", Sub = "rtsp://127.0.0.1:18554/Streaming/Channels/102" }],
        }]));
        Assert.True(catalog.TryGetDevice("cam-lab-1", out var d));
        Assert.Null(d.Onvif);
        Assert.Equal("rtsp://127.0.0.1:18554/Streaming/Channels/102", d.FindChannel(1)!.SubUri!.OriginalString);
    }

    [Fact]
    public async Task Inventory_HasContractShape_AndLeaksNoCredentialsOrAddresses()
    {
        var catalog = new OnvifDeviceCatalog(StaticDeviceCatalog.FromOptions([new DeviceOptions
        {
            DeviceId = "cam-lab-1",
            Username = "installer",
            Password = "StaticPassw0rd",
            Channels = [new ChannelOptions { Channel = 1, Name = "Door", Main = "rtsp://127.0.0.1:18554/Streaming/Channels/101" }],
        }]));
        var snapshot = await OnvifDeviceReader.ReadAsync(_pool.Get(_sim.DeviceServiceUri, new DeviceCredentials(_sim.Device.Username, _sim.Device.Password)), TimeProvider.System, default);
        catalog.Upsert(snapshot, new DeviceCredentials(_sim.Device.Username, _sim.Device.Password), DeviceSource.Configuration);

        var json = System.Text.Encoding.UTF8.GetString(InventoryJson.Build(catalog.Devices, new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero)));
        foreach (var secret in new[] { "StaticPassw0rd", "installer", _sim.Device.Password, "admin", "127.0.0.1", "127.0.0.2", "rtsp:", "http:", "Profile_101", _sim.EndPoint.Port.ToString() })
        {
            Assert.DoesNotContain(secret, json);
        }
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("2026-11-25T10:00:00Z", root.GetProperty("generatedAt").GetString());
        var devices = root.GetProperty("devices");
        Assert.Equal(2, devices.GetArrayLength());
        var nvr = devices.EnumerateArray().Single(d => d.GetProperty("deviceId").GetString() == _sim.Device.Serial);
        // "name" (the ONVIF name scope) is a project addition to §6, documented in docs/contract.md.
        Assert.Equal(["deviceId", "name", "manufacturer", "model", "firmware", "channels", "online"], nvr.EnumerateObject().Select(p => p.Name));
        Assert.Equal(_sim.Device.Name, nvr.GetProperty("name").GetString());
        Assert.Equal("HIKVISION", nvr.GetProperty("manufacturer").GetString());
        Assert.Equal("DS-7608NI-K2", nvr.GetProperty("model").GetString());
        Assert.Equal("V4.30.085 build 200916", nvr.GetProperty("firmware").GetString());
        Assert.True(nvr.GetProperty("online").GetBoolean());
        var ch1 = nvr.GetProperty("channels")[0];
        Assert.Equal(["channel", "name", "streams", "ptz", "backchannel", "playback"], ch1.EnumerateObject().Select(p => p.Name));
        Assert.Equal(1, ch1.GetProperty("channel").GetInt32());
        Assert.Equal(["main", "sub"], ch1.GetProperty("streams").EnumerateArray().Select(s => s.GetString()));
        Assert.True(ch1.GetProperty("ptz").GetBoolean());
        Assert.True(ch1.GetProperty("backchannel").GetBoolean());
        Assert.True(ch1.GetProperty("playback").GetBoolean());
        Assert.False(nvr.GetProperty("channels")[1].GetProperty("ptz").GetBoolean());
        var cam = devices.EnumerateArray().Single(d => d.GetProperty("deviceId").GetString() == "cam-lab-1");
        Assert.Equal("Door", cam.GetProperty("channels")[0].GetProperty("name").GetString());
        Assert.Equal(["main"], cam.GetProperty("channels")[0].GetProperty("streams").EnumerateArray().Select(s => s.GetString()));
    }

    [Fact]
    public async Task InventoryPublisher_PublishesRetainedAtStart_ThenOnceAfterABurstOfChanges()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero));
        var catalog = new OnvifDeviceCatalog([]);
        var cloud = new RecordingCloudPublisher();
        using var publisher = new InventoryPublisher(catalog, cloud, time, NullLogger<InventoryPublisher>.Instance);
        await publisher.StartAsync(default);
        Assert.Equal("{\"generatedAt\":\"2026-11-25T10:00:00Z\",\"devices\":[]}", Assert.Single(cloud.On("devices")).Payload);
        Assert.True(cloud.On("devices")[0].Retain);

        var snapshot = await OnvifDeviceReader.ReadAsync(_pool.Get(_sim.DeviceServiceUri, new DeviceCredentials(_sim.Device.Username, _sim.Device.Password)), TimeProvider.System, default);
        catalog.Upsert(snapshot, DeviceCredentials.None, DeviceSource.Discovery);
        catalog.SetOnline(snapshot.Device.DeviceId, false);
        catalog.SetOnline(snapshot.Device.DeviceId, true);
        time.Advance(TimeSpan.FromMilliseconds(900));
        Assert.Single(cloud.On("devices"));
        time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.Equal(2, cloud.On("devices").Count);
        Assert.Contains(_sim.Device.Serial, cloud.On("devices")[1].Payload);

        // A refresh that finds the same device publishes nothing new.
        catalog.Upsert(snapshot, DeviceCredentials.None, DeviceSource.Discovery);
        catalog.SetOnline(snapshot.Device.DeviceId, true);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(2, cloud.On("devices").Count);
        await publisher.StopAsync(default);
    }
}
