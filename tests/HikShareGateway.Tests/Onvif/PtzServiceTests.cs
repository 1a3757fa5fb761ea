using System.Xml.Linq;
using HikShareGateway.Core.Configuration;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Ptz;
using HikShareGateway.Onvif.Catalog;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Ptz;
using HikShareGateway.Onvif.Soap;
using HikShareGateway.Tests.Onvif.Simulator;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Onvif;

[Trait("Category", "Unit")]
public sealed class PtzServiceTests : IAsyncLifetime
{
    private OnvifSimulator _sim = null!;
    private OnvifClientPool _pool = null!;
    private OnvifPtzService _ptz = null!;
    private string _id = null!;

    public async Task InitializeAsync()
    {
        _sim = new OnvifSimulator(new SimDevice { RejectCombinedPanTiltZoom = true });
        _pool = new OnvifClientPool(OnvifTestKit.Options(), TimeProvider.System, NullLoggerFactory.Instance);
        var catalog = new OnvifDeviceCatalog(StaticDeviceCatalog.FromOptions([new DeviceOptions
        {
            DeviceId = "cam-static",
            Channels = [new ChannelOptions { Channel = 1, Main = "rtsp://127.0.0.1:18554/Streaming/Channels/101" }],
        }]));
        await OnvifTestKit.AddDeviceAsync(catalog, _pool, _sim);
        _id = _sim.Device.Serial;
        _ptz = new OnvifPtzService(catalog, _pool, NullLogger<OnvifPtzService>.Instance);
    }

    public async Task DisposeAsync()
    {
        _pool.Dispose();
        await _sim.DisposeAsync();
    }

    private XElement Last() => _sim.PtzRequests.Last();
    private static XElement? Find(XElement e, string local) => e.Descendants().FirstOrDefault(d => d.Name.LocalName == local);

    [Fact]
    public async Task ContinuousMove_SendsVelocityAndTimeout_OnTheMainProfile()
    {
        await _ptz.MoveAsync(_id, 1, new PtzMove(PtzMoveMode.Continuous, 0.5, -0.25, 0, null, TimeSpan.FromSeconds(1)), default);
        var r = Last();
        Assert.Equal("ContinuousMove", r.Name.LocalName);
        Assert.Equal(Ns.Tptz, r.Name.Namespace);
        Assert.Equal("Profile_101", Find(r, "ProfileToken")!.Value);
        var pt = Find(r, "PanTilt")!;
        Assert.Equal(("0.5", "-0.25"), (pt.Attribute("x")!.Value, pt.Attribute("y")!.Value));
        Assert.Null(Find(r, "Zoom"));
        Assert.Equal("PT1S", Find(r, "Timeout")!.Value);
    }

    [Fact]
    public async Task CameraRejectingPanTiltWithZoom_GetsThemSeparately()
    {
        await _ptz.MoveAsync(_id, 1, new PtzMove(PtzMoveMode.Continuous, 0.5, 0, 0.3, null, TimeSpan.FromSeconds(2)), default);
        var sent = _sim.PtzRequests.ToList();
        Assert.Equal(2, sent.Count);
        Assert.NotNull(Find(sent[0], "PanTilt"));
        Assert.Null(Find(sent[0], "Zoom"));
        Assert.Equal("0.3", Find(sent[1], "Zoom")!.Attribute("x")!.Value);
        Assert.Null(Find(sent[1], "PanTilt"));
    }

    [Fact]
    public async Task AbsoluteAndRelativeMoves_SendPositionAndTranslationWithSpeed()
    {
        await _ptz.MoveAsync(_id, 1, new PtzMove(PtzMoveMode.Absolute, 0.1, 0.2, null, 0.8, null), default);
        Assert.Equal("AbsoluteMove", Last().Name.LocalName);
        Assert.Equal("0.1", Find(Find(Last(), "Position")!, "PanTilt")!.Attribute("x")!.Value);
        Assert.Equal("0.8", Find(Find(Last(), "Speed")!, "PanTilt")!.Attribute("x")!.Value);
        await _ptz.MoveAsync(_id, 1, new PtzMove(PtzMoveMode.Relative, null, null, 0.1, null, null), default);
        Assert.Equal("RelativeMove", Last().Name.LocalName);
        Assert.Equal("0.1", Find(Find(Last(), "Translation")!, "Zoom")!.Attribute("x")!.Value);
    }

    [Fact]
    public async Task Stop_StopsPanTiltAndZoom()
    {
        await _ptz.StopAsync(_id, 1, default);
        Assert.Equal("Stop", Last().Name.LocalName);
        Assert.Equal("true", Find(Last(), "PanTilt")!.Value);
        Assert.Equal("true", Find(Last(), "Zoom")!.Value);
    }

    [Fact]
    public async Task Presets_ListedAndGoneTo()
    {
        var presets = await _ptz.GetPresetsAsync(_id, 1, default);
        Assert.Equal([new PtzPreset("1", "Gate"), new PtzPreset("2", "Parking")], presets);
        await _ptz.GotoPresetAsync(_id, 1, "2", default);
        Assert.Equal("GotoPreset", Last().Name.LocalName);
        Assert.Equal("2", Find(Last(), "PresetToken")!.Value);
    }

    [Theory]
    [InlineData("SERIAL", 2)]
    [InlineData("cam-static", 1)]
    [InlineData("no-such-device", 1)]
    public async Task ChannelWithoutPtz_IsNotSupported(string device, int channel)
    {
        var id = device == "SERIAL" ? _id : device;
        var e = await Assert.ThrowsAsync<DeviceException>(() => _ptz.StopAsync(id, channel, default));
        Assert.Equal(DeviceErrorKind.NotSupported, e.Kind);
    }

    [Fact]
    public async Task DeviceFault_IsFailedWithTheFaultText()
    {
        _sim.Override("GotoPreset", () => OnvifSimulator.Fault(400, "env:Sender", "ter:InvalidArgVal", "No such preset", "ter:NoToken"));
        var e = await Assert.ThrowsAsync<DeviceException>(() => _ptz.GotoPresetAsync(_id, 1, "99", default));
        Assert.Equal(DeviceErrorKind.Failed, e.Kind);
        Assert.Contains("ter:NoToken: No such preset", e.Message);
    }
}
