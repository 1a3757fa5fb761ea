using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Snapshots;
using HikShareGateway.Tests.Onvif;
using HikShareGateway.Tests.Onvif.Simulator;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Snapshots;

/// <summary>
/// The device's own JPEG over HTTP (ISAPI picture, ONVIF GetSnapshotUri) against simulated devices on loopback that
/// demand Digest and serve a JPEG made by the ffmpeg CLI: the bytes arrive unchanged, and every misbehaviour is a
/// <see cref="DeviceException"/> of the right kind that names no address.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DevicePictureClientTests
{
    private const int Bound = 1024 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    private static DevicePictureClient Client(OnvifClientPool? onvif = null) =>
        new(DeviceHttp.CreateClient(OnvifTestKit.Options()), onvif, TimeProvider.System, NullLogger<DevicePictureClient>.Instance);

    private static DeviceInfo IsapiDevice(PictureDevice d, string password = PictureDevice.Password) => new()
    {
        DeviceId = "nvr-isapi",
        Channels = [new ChannelInfo { Channel = 1, MainUri = new Uri("rtsp://127.0.0.1:1/101") }, new ChannelInfo { Channel = 12, MainUri = new Uri("rtsp://127.0.0.1:1/1201") }],
        Credentials = new DeviceCredentials(PictureDevice.User, password),
        IsapiBase = d.BaseUri,
    };

    [Fact]
    public async Task Isapi_DigestChallengedOnce_ThenAnsweredAtOnce_ChannelPathsAndBytesAsTheDeviceSent()
    {
        await using var device = await PictureDevice.StartAsync();
        var client = Client();
        var info = IsapiDevice(device);
        Assert.True(client.Offers(info, 1, StreamKind.Main));

        var main = await client.FetchAsync(info, 1, StreamKind.Main, Bound, Timeout, default);
        var sub = await client.FetchAsync(info, 1, StreamKind.Sub, Bound, Timeout, default);
        var twelve = await client.FetchAsync(info, 12, StreamKind.Main, Bound, Timeout, default);

        Assert.Equal(device.Jpeg, main.Jpeg);
        Assert.Equal(device.Jpeg, sub.Jpeg);
        Assert.Equal(device.Jpeg, twelve.Jpeg);
        Assert.Equal("isapi", main.Via);
        Assert.Equal(1, device.Challenges); // the learnt challenge answers the next requests without a 401
        Assert.Equal(3, device.Answered);
        Assert.Equal(["/ISAPI/Streaming/channels/101/picture", "/ISAPI/Streaming/channels/101/picture",
            "/ISAPI/Streaming/channels/102/picture", "/ISAPI/Streaming/channels/1201/picture"], device.Paths);
    }

    public static TheoryData<PictureMode, DeviceErrorKind, string> Misbehaviours() => new()
    {
        { PictureMode.ServerError, DeviceErrorKind.Failed, "answered 500" },
        { PictureMode.Html, DeviceErrorKind.Failed, "no image (content type text/html)" },
        { PictureMode.NotJpegAsImage, DeviceErrorKind.Failed, "not a JPEG" },
        { PictureMode.Oversized, DeviceErrorKind.Failed, "larger than the bound" },
        { PictureMode.Slow, DeviceErrorKind.Timeout, "did not answer within 0.5 s" },
    };

    [Theory]
    [MemberData(nameof(Misbehaviours))]
    public async Task Isapi_Misbehaviour_IsADeviceExceptionOfItsKind_WithoutTheAddress(PictureMode mode, DeviceErrorKind kind, string says)
    {
        await using var device = await PictureDevice.StartAsync();
        device.Mode = mode;
        var started = TimeProvider.System.GetTimestamp();
        // Only the slow device meets the short bound; the others get a generous one (a loaded box is slow to answer a 401).
        var bound = mode == PictureMode.Slow ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromSeconds(15);
        var e = await Assert.ThrowsAsync<DeviceException>(() => Client().FetchAsync(IsapiDevice(device), 1, StreamKind.Main, Bound, bound, default));
        Assert.Equal(kind, e.Kind);
        Assert.Contains(says, e.Message);
        Assert.DoesNotContain("127.0.0.1", e.Message);
        Assert.True(TimeProvider.System.GetElapsedTime(started) < bound + TimeSpan.FromSeconds(5), "bounded by the time-out");
    }

    [Fact]
    public async Task Isapi_WrongPassword_Unauthorized_OneRetryOnly()
    {
        await using var device = await PictureDevice.StartAsync();
        var e = await Assert.ThrowsAsync<DeviceException>(() => Client().FetchAsync(IsapiDevice(device, "wrong"), 1, StreamKind.Main, Bound, Timeout, default));
        Assert.Equal(DeviceErrorKind.Unauthorized, e.Kind);
        Assert.DoesNotContain("wrong", e.Message);
        Assert.Equal(2, device.Paths.Count);
    }

    [Fact]
    public async Task Onvif_GetSnapshotUriAskedOnce_TheDevicesOwnAddressRewrittenToWhereItIsReached_DigestAnswered()
    {
        var jpeg = await PictureDevice.MakeJpegAsync("smptebars", 640, 360);
        // The simulator names itself 192.0.2.77 in every address, as a device reached through NAT names its LAN address.
        await using var sim = new OnvifSimulator(new SimDevice { SnapshotJpeg = jpeg, AdvertisedHost = "192.0.2.77" });
        using var pool = new OnvifClientPool(OnvifTestKit.Options(), TimeProvider.System, NullLoggerFactory.Instance);
        var creds = new DeviceCredentials(sim.Device.Username, sim.Device.Password);
        var read = await OnvifDeviceReader.ReadAsync(pool.Get(sim.DeviceServiceUri, creds), TimeProvider.System, default);
        var info = read.Device with { Credentials = creds };
        var client = Client(pool);
        Assert.True(client.Offers(info, 1, StreamKind.Main));
        Assert.True(client.Offers(info, 2, StreamKind.Sub));
        Assert.False(client.Offers(info, 3, StreamKind.Main));

        var first = await client.FetchAsync(info, 1, StreamKind.Main, Bound, Timeout, default);
        var second = await client.FetchAsync(info, 1, StreamKind.Main, Bound, Timeout, default);

        Assert.Equal(jpeg, first.Jpeg);
        Assert.Equal(jpeg, second.Jpeg);
        Assert.Equal("onvif", first.Via);
        Assert.Equal(1, client.SnapshotUriLookups);
        Assert.Equal(3, sim.SnapshotRequests); // 401, then two answered (the challenge kept)
        Assert.Contains("GetSnapshotUri", sim.Operations);
    }

    [Fact]
    public async Task Onvif_SnapshotAddressFails_AskedAgainNextTime()
    {
        await using var sim = new OnvifSimulator(new SimDevice { SnapshotJpeg = null });
        using var pool = new OnvifClientPool(OnvifTestKit.Options(), TimeProvider.System, NullLoggerFactory.Instance);
        var creds = new DeviceCredentials(sim.Device.Username, sim.Device.Password);
        var info = (await OnvifDeviceReader.ReadAsync(pool.Get(sim.DeviceServiceUri, creds), TimeProvider.System, default)).Device with { Credentials = creds };
        var client = Client(pool);
        Assert.Equal(DeviceErrorKind.NotSupported, (await Assert.ThrowsAsync<DeviceException>(() => client.FetchAsync(info, 1, StreamKind.Main, Bound, Timeout, default))).Kind);
        await Assert.ThrowsAsync<DeviceException>(() => client.FetchAsync(info, 1, StreamKind.Main, Bound, Timeout, default));
        Assert.Equal(2, client.SnapshotUriLookups);
    }

    [Fact]
    public void ExplicitChannelsWithoutIsapiOrOnvif_OfferNothing()
    {
        var info = new DeviceInfo { DeviceId = "cam", Channels = [new ChannelInfo { Channel = 1, MainUri = new Uri("rtsp://127.0.0.1:1/x") }] };
        Assert.False(Client().Offers(info, 1, StreamKind.Main));
    }
}
