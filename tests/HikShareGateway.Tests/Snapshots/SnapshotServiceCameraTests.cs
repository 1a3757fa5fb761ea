using System.Runtime.InteropServices;
using HikShareGateway.Core.Devices;
using HikShareGateway.Ffmpeg.Snapshots;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Rtsp.Relay;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Snapshots;

/// <summary>
/// Snapshots of real cameras through the live relay: gst-rtsp-server's camera with the SMPTE pattern, in H.264 and in
/// H.265 (x265enc), behind Digest. The JPEG decodes (ffprobe), has the asked width and shows the bars where they are.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SnapshotServiceCameraTests
{
    private const string User = "admin";
    private const string Password = "Gst-Pa55";

    private static async Task<(GstRtspCamera Camera, RelayHarness Gateway)> StartAsync(GstVideoCodec codec, int gop = 25)
    {
        var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { Codec = codec, Pattern = "smpte", Gop = gop, Backchannel = false, User = User, Password = Password });
        try
        {
            var gateway = await RelayHarness.StartAsync(new RelayHarness.Options { MainUri = camera.Url(), Credentials = new DeviceCredentials(User, Password) });
            return (camera, gateway);
        }
        catch
        {
            await camera.DisposeAsync();
            throw;
        }
    }

    private static SnapshotService Service(RelayHarness h, TimeProvider? time = null, SnapshotOptions? options = null) =>
        new(h.Relay, options ?? new SnapshotOptions(), time ?? TimeProvider.System, NullLogger<SnapshotService>.Instance);

    private static byte[] Bytes(ReadOnlyMemory<byte> m) => m.ToArray();

    [Theory]
    [InlineData(GstVideoCodec.H264, 320, 180)]
    [InlineData(GstVideoCodec.H265, 480, 270)]
    public async Task ColdStream_SmpteCamera_JpegOfRequestedWidthWithTheBarsInPlace(GstVideoCodec codec, int width, int height)
    {
        var (camera, h) = await StartAsync(codec);
        await using var _ = camera;
        await using var __ = h;
        using var snapshots = Service(h);
        var image = await snapshots.TakeAsync(RelayHarness.Device, 1, StreamKind.Main, width, CancellationToken.None);
        Assert.Equal((width, height), (image.Width, image.Height));
        await SnapshotJpegs.AssertSmpteBarsAsync(Bytes(image.Jpeg), width, height, fullIntensity: true);
        Assert.Equal(1, snapshots.DecodeCount);
    }

    [Fact]
    public async Task RunningStream_SnapshotComesFromTheGopCache_NotTheNextKeyframe()
    {
        // A 10 s GOP and a 3 s bound on the keyframe: only the cached GOP can answer in time.
        var (camera, h) = await StartAsync(GstVideoCodec.H264, gop: 250);
        await using var _ = camera;
        await using var __ = h;
        h.Grant(RelayHarness.LiveShare(Bob));
        await using var viewer = await RtspTestClient.ConnectAsync(h.Port);
        var (describe, play) = await viewer.PlayAsync(h.Url(token: RelayHarness.Token(Bob)));
        Assert.True(play.StatusCode == 200, describe.ToString());
        Assert.NotEmpty(await viewer.ReadPacketsAsync(5, TimeSpan.FromSeconds(10), channel: 0));

        using var snapshots = Service(h, options: new SnapshotOptions { KeyframeTimeout = TimeSpan.FromSeconds(3) });
        var image = await snapshots.TakeAsync(RelayHarness.Device, 1, StreamKind.Main, 0, CancellationToken.None);
        await SnapshotJpegs.AssertSmpteBarsAsync(Bytes(image.Jpeg), 640, 360, fullIntensity: true);
        Assert.Single(h.Relay.Streams);
    }

    [Fact]
    public async Task ConcurrentRequests_ShareOneDecode_TheWindowReusesItForAnyWidth_TheNextWindowDecodesAgain()
    {
        var (camera, h) = await StartAsync(GstVideoCodec.H264);
        await using var _ = camera;
        await using var __ = h;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var snapshots = Service(h, time);

        var images = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => snapshots.TakeAsync(RelayHarness.Device, 1, StreamKind.Main, 320, CancellationToken.None)));
        Assert.Equal(1, snapshots.DecodeCount);
        Assert.True(MemoryMarshal.TryGetArray(images[0].Jpeg, out var first));
        Assert.All(images, i => Assert.True(MemoryMarshal.TryGetArray(i.Jpeg, out var s) && ReferenceEquals(s.Array, first.Array)));

        // Another width within the window: the same decode, scaled again.
        var small = await snapshots.TakeAsync(RelayHarness.Device, 1, StreamKind.Main, 160, CancellationToken.None);
        Assert.Equal((160, 90), (small.Width, small.Height));
        Assert.Equal(1, snapshots.DecodeCount);

        time.Advance(TimeSpan.FromMilliseconds(1100));
        var later = await snapshots.TakeAsync(RelayHarness.Device, 1, StreamKind.Main, 320, CancellationToken.None);
        Assert.Equal(2, snapshots.DecodeCount);
        Assert.True(later.TakenAt > images[0].TakenAt);
        await SnapshotJpegs.AssertSmpteBarsAsync(Bytes(later.Jpeg), 320, 180, fullIntensity: true);
    }

    [Fact]
    public async Task CameraGone_DeviceError_NothingCached_NextCallTriesAgain()
    {
        var (camera, h) = await StartAsync(GstVideoCodec.H264);
        await using var __ = h;
        await camera.DisposeAsync();
        using var snapshots = Service(h, options: new SnapshotOptions { ReadyTimeout = TimeSpan.FromSeconds(5) });
        await Assert.ThrowsAsync<DeviceException>(() => snapshots.TakeAsync(RelayHarness.Device, 1, StreamKind.Main, 320, CancellationToken.None));
        await Assert.ThrowsAsync<DeviceException>(() => snapshots.TakeAsync(RelayHarness.Device, 1, StreamKind.Main, 320, CancellationToken.None));
        Assert.Equal(2, snapshots.DecodeCount);
        Assert.Equal(0, snapshots.CachedPictures);
    }
}
