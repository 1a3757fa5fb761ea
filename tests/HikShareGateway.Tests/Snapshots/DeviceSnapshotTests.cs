using System.Globalization;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Alarms;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Snapshots;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Rtsp.Relay;
using Microsoft.Extensions.DependencyInjection;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Snapshots;

/// <summary>
/// The snapshot service as the host composes it (<see cref="RelayHarness"/>: configuration keys, device catalog, the
/// ONVIF feature's device picture client, the live relay) with a real camera (gst-rtsp-server, SMPTE bars at 100 %)
/// and a device picture API (ISAPI over Digest, lavfi's SMPTE bars at 75 %, so each picture tells where it came from).
/// </summary>
[Trait("Category", "Integration")]
public sealed class DeviceSnapshotTests
{
    private const string User = "admin";
    private const string Password = "Gst-Pa55";

    private sealed record Rig(GstRtspCamera Camera, PictureDevice Device, RelayHarness Gateway) : IAsyncDisposable
    {
        public SnapshotService Snapshots => (SnapshotService)Gateway.Services.GetRequiredService<ISnapshotService>();

        public async ValueTask DisposeAsync()
        {
            await Gateway.DisposeAsync();
            await Device.DisposeAsync();
            await Camera.DisposeAsync();
        }
    }

    private static async Task<Rig> StartAsync(Dictionary<string, string?>? settings = null, int gop = 25)
    {
        var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { Codec = GstVideoCodec.H264, Pattern = "smpte", Gop = gop, Backchannel = false, User = User, Password = Password });
        var device = await PictureDevice.StartAsync(user: User, password: Password);
        var values = new Dictionary<string, string?> { ["Devices:0:IsapiUrl"] = device.BaseUri.ToString() };
        foreach (var (k, v) in settings ?? [])
        {
            values[k] = v;
        }
        var gateway = await RelayHarness.StartAsync(new RelayHarness.Options { MainUri = camera.Url(), Credentials = new DeviceCredentials(User, Password), Settings = values });
        return new Rig(camera, device, gateway);
    }

    private static Task<SnapshotImage> TakeAsync(Rig r, int width = 0) => r.Snapshots.TakeAsync(RelayHarness.Device, 1, StreamKind.Main, width, CancellationToken.None);

    [Fact]
    public async Task Auto_NoStreamRunning_TheDevicesJpeg_ScaledToTheWidth_OrPassedThrough_NoUpstreamOpened()
    {
        // A window longer than the test (a loaded box may take over 1 s between two calls).
        await using var r = await StartAsync(new() { ["Media:SnapshotCacheMilliseconds"] = "30000" });
        var scaled = await TakeAsync(r, 320);
        var asIs = await TakeAsync(r);

        Assert.Equal(("device", 320, 180), (scaled.Origin, scaled.Width, scaled.Height));
        await SnapshotJpegs.AssertSmpteBarsAsync(scaled.Jpeg.ToArray(), 320, 180, fullIntensity: false);
        Assert.Equal(("device", 1280, 720), (asIs.Origin, asIs.Width, asIs.Height));
        Assert.Equal(r.Device.Jpeg, asIs.Jpeg.ToArray()); // no width: the device's bytes, untouched

        Assert.Empty(r.Gateway.Relay.Streams); // no upstream session was opened for either
        Assert.Equal((1, 0), (r.Snapshots.DeviceFetchCount, r.Snapshots.DeviceFallbackCount));
        Assert.Equal(1, r.Device.Answered); // one fetch for the window, shared by both widths
    }

    [Fact]
    public async Task Auto_StreamRunning_TheGopCacheAnswers_TheDeviceIsNotAsked()
    {
        await using var r = await StartAsync();
        r.Gateway.Grant(RelayHarness.LiveShare(Bob));
        await using var viewer = await RtspTestClient.ConnectAsync(r.Gateway.Port);
        var (describe, play) = await viewer.PlayAsync(r.Gateway.Url(token: RelayHarness.Token(Bob)));
        Assert.True(play.StatusCode == 200, describe.ToString());
        Assert.NotEmpty(await viewer.ReadPacketsAsync(5, TimeSpan.FromSeconds(10), channel: 0));

        var image = await TakeAsync(r, 320);
        Assert.Equal("stream", image.Origin);
        await SnapshotJpegs.AssertSmpteBarsAsync(image.Jpeg.ToArray(), 320, 180, fullIntensity: true);
        Assert.Empty(r.Device.Paths);
    }

    [Fact]
    public async Task SourceDevice_AsksTheDeviceEvenWithAStreamRunning_PerDeviceDecodeOverridesIt()
    {
        await using (var r = await StartAsync(new() { ["Media:SnapshotSource"] = "device" }))
        {
            using var lease = r.Gateway.Relay.Acquire(RelayHarness.Device, 1, StreamKind.Main);
            await lease.Stream.WaitReadyAsync(TimeSpan.FromSeconds(15), default);
            var image = await TakeAsync(r, 320);
            Assert.Equal("device", image.Origin);
            await SnapshotJpegs.AssertSmpteBarsAsync(image.Jpeg.ToArray(), 320, 180, fullIntensity: false);
        }
        await using (var r = await StartAsync(new() { ["Media:SnapshotSource"] = "device", ["Devices:0:SnapshotSource"] = "decode" }))
        {
            var image = await TakeAsync(r, 320);
            Assert.Equal("stream", image.Origin);
            Assert.Empty(r.Device.Paths);
            Assert.Equal(0, r.Snapshots.DeviceFetchCount);
        }
    }

    [Theory]
    [InlineData(PictureMode.ServerError)]
    [InlineData(PictureMode.Slow)]
    [InlineData(PictureMode.Html)]
    [InlineData(PictureMode.NotJpegAsImage)]
    [InlineData(PictureMode.Oversized)]
    public async Task DevicePictureFails_TheStreamIsDecodedInstead_WithinTheDeviceBoundPlusTheDecode(PictureMode mode)
    {
        await using var r = await StartAsync(new()
        {
            // The short bound for the slow device only: the others must fail for their own reason, not the clock's.
            ["Media:SnapshotDeviceTimeoutMilliseconds"] = mode == PictureMode.Slow ? "700" : "15000",
            ["Media:SnapshotDeviceMaxBytes"] = (1024 * 1024).ToString(CultureInfo.InvariantCulture),
        });
        r.Device.Mode = mode;
        var image = await TakeAsync(r, 320);
        Assert.Equal("stream", image.Origin);
        await SnapshotJpegs.AssertSmpteBarsAsync(image.Jpeg.ToArray(), 320, 180, fullIntensity: true);
        Assert.Equal((1, 1), (r.Snapshots.DeviceFetchCount, r.Snapshots.DeviceFallbackCount));
        Assert.Equal(1, r.Snapshots.DecodeCount);
    }

    [Fact]
    public async Task ConcurrentRequests_ShareOneDeviceFetch()
    {
        await using var r = await StartAsync(new() { ["Media:SnapshotCacheMilliseconds"] = "30000" });
        var images = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => TakeAsync(r, i % 2 == 0 ? 320 : 0)));
        Assert.All(images, i => Assert.Equal("device", i.Origin));
        Assert.Equal(1, r.Device.Answered);
        Assert.Equal(1, r.Snapshots.DeviceFetchCount);
    }

    [Fact]
    public async Task AlarmOnAChannelNobodyWatches_PicturedByTheDevice_NoUpstreamOpened()
    {
        await using var r = await StartAsync();
        r.Gateway.Grant(RelayHarness.LiveShare(Bob, Privilege.LiveView | Privilege.AlarmPush)); // pictures go to holders of alarmPush
        var alarms = r.Gateway.Services.GetRequiredService<IAlarmSnapshots>();
        var alarm = alarms.Attach(new AlarmEvent(RelayHarness.Device, 1, "motion", "start", DateTimeOffset.UtcNow), [Bob]);
        var picture = await alarms.GetAsync(alarm.Id!, Bob, CancellationToken.None);
        Assert.Equal(AlarmPictureStatus.Ok, picture.Status);
        Assert.Equal(r.Device.Jpeg, picture.Jpeg.ToArray()); // Alarms:SnapshotWidth 0: the device's bytes
        Assert.Empty(r.Gateway.Relay.Streams);
    }

    [Fact]
    public async Task SourceDecode_NeverAsksTheDevice()
    {
        await using var r = await StartAsync(new() { ["Media:SnapshotSource"] = "decode" });
        var image = await TakeAsync(r, 320);
        Assert.Equal("stream", image.Origin);
        Assert.Empty(r.Device.Paths);
    }
}
