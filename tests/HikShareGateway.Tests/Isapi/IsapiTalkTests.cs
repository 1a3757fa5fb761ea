using HikShareGateway.Core.Access;
using HikShareGateway.Core.Audio;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Isapi;
using HikShareGateway.Tests.Infrastructure;
using HikShareGateway.Tests.Talk;
using Microsoft.Extensions.Logging.Abstractions;
using static HikShareGateway.Tests.Access.AccessTestKit;

namespace HikShareGateway.Tests.Isapi;

/// <summary>Two-way audio over Hikvision ISAPI, for devices without an ONVIF backchannel, against the ISAPI simulator.</summary>
[Trait("Category", "Integration")]
public sealed class IsapiTalkTests : IAsyncDisposable
{
    private static readonly string[] Sequence =
    [
        "GET /ISAPI/System/TwoWayAudio/channels",
        "PUT /ISAPI/System/TwoWayAudio/channels/1/open",
        "PUT /ISAPI/System/TwoWayAudio/channels/1/audioData",
        "PUT /ISAPI/System/TwoWayAudio/channels/1/close",
    ];

    private readonly IsapiSimulator _sim = new();
    private readonly IsapiClientPool _pool = new(new OnvifOptions { RequestTimeoutSeconds = 5 });

    public async ValueTask DisposeAsync()
    {
        _pool.Dispose();
        await _sim.DisposeAsync();
    }

    private DeviceInfo Device(string password = "isapi-Pw1") => new()
    {
        DeviceId = "nvr-isapi",
        Credentials = new DeviceCredentials("admin", password),
        IsapiBase = _sim.BaseUri,
        Channels = [new ChannelInfo { Channel = 1 }],
    };

    private IsapiTalkback Talkback() => new(_pool, NullLogger<IsapiTalkback>.Instance);

    private static byte[] Pattern(int length, int seed)
    {
        var audio = new byte[length];
        for (var i = 0; i < audio.Length; i++)
        {
            audio[i] = (byte)(seed + i / 160);
        }
        return audio;
    }

    [Fact]
    public async Task IsapiTalk_OpenWriteClose_ExactRequestsWithDigest_AndTheDeviceGetsTheBytes()
    {
        var audio = Pattern(3200, 0x40);
        await using (var session = await Talkback().OpenAsync(Device(), 1, default))
        {
            Assert.Equal(TalkCodec.Pcmu, session.Codec);
            for (var off = 0; off < audio.Length; off += 160)
            {
                session.Write(audio.AsSpan(off, 160));
            }
            await Wait.UntilAsync(() => _sim.Audio.Length == audio.Length, "the audio at the device", 5000);
        }
        Assert.Equal(Sequence, _sim.Authorized);
        Assert.Equal(audio, _sim.Audio);
        Assert.Equal(1, _sim.AudioConnectionsClosed);
        var data = _sim.Requests.Single(r => r.Authorized && r.Path.EndsWith("/audioData", StringComparison.Ordinal));
        Assert.StartsWith("Digest username=\"admin\"", data.Authorization);
    }

    [Fact]
    public async Task IsapiTalk_StaleSessionOnTheDevice_ClosesItAndOpensAgain()
    {
        _sim.FailNextOpen = true;
        await using (await Talkback().OpenAsync(Device(), 1, default))
        {
        }
        Assert.Equal(
        [
            "GET /ISAPI/System/TwoWayAudio/channels",
            "PUT /ISAPI/System/TwoWayAudio/channels/1/open",
            "PUT /ISAPI/System/TwoWayAudio/channels/1/close",
            "PUT /ISAPI/System/TwoWayAudio/channels/1/open",
            "PUT /ISAPI/System/TwoWayAudio/channels/1/audioData",
            "PUT /ISAPI/System/TwoWayAudio/channels/1/close",
        ], _sim.Authorized);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("G.726")]
    public async Task IsapiTalk_NoTalkChannelOrNotG711_IsNotSupported(string? codec)
    {
        _sim.TalkCodec = codec;
        var e = await Assert.ThrowsAsync<DeviceException>(() => Talkback().OpenAsync(Device(), 1, default));
        Assert.Equal(DeviceErrorKind.NotSupported, e.Kind);
        Assert.DoesNotContain(_sim.Authorized, r => r.Contains("/open", StringComparison.Ordinal));
    }

    [Fact]
    public async Task IsapiTalk_WrongPassword_IsUnauthorized()
    {
        var e = await Assert.ThrowsAsync<DeviceException>(() => Talkback().OpenAsync(Device("nope"), 1, default));
        Assert.Equal(DeviceErrorKind.Unauthorized, e.Kind);
        Assert.Empty(_sim.Authorized);
    }

    /// <summary>
    /// END TO END: the camera (gst-rtsp-server) has no ONVIF backchannel, the device has ISAPI: the gateway offers the
    /// ISAPI codec as the sendonly track and the RTP payloads the talker sent through it reach the device's audioData.
    /// </summary>
    [Theory]
    [InlineData("G.711ulaw", 0, "0 PCMU/8000")]
    [InlineData("G.711alaw", 8, "8 PCMA/8000")]
    public async Task IsapiTalk_ThroughTheGateway_TalkerPayloadsReachAudioData(string codec, int payloadType, string rtpmap)
    {
        _sim.TalkCodec = codec;
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { Backchannel = false });
        await using var gw = await TalkTestGateway.StartAsync(camera.Url(), new Dictionary<string, string?> { ["Devices:0:IsapiUrl"] = _sim.BaseUri.ToString() },
            user: _sim.Username, password: _sim.Password);
        gw.Grant((Bob, Privilege.LiveView | Privilege.TwoWayAudio));
        var audio = Pattern(8000, 0x30);

        await using (var talker = await BackchannelTalker.StartAsync(gw.LiveUrl(), TalkTestGateway.Credential(Bob)))
        {
            var media = TestSdp.ParseMedia(talker.Describe.Body);
            Assert.Equal(["video", "audio", "audio"], media.Select(m => m.Media));
            Assert.True(media[2].IsSendOnly);
            Assert.Equal([payloadType], media[2].Formats);
            Assert.Contains(rtpmap, media[2].RtpMaps);
            Assert.DoesNotContain(_sim.BaseUri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), talker.Describe.Body);
            await talker.SendPcmuAsync(audio); // payload type from the offered track
            await Wait.UntilAsync(() => _sim.Audio.Length == audio.Length, $"all audio at the device (have {_sim.Audio.Length})", 5000);
            Assert.Equal(200, (await talker.TeardownAsync()).StatusCode);
        }
        await Wait.UntilAsync(() => _sim.Authorized.Count == Sequence.Length, "the close", 5000);
        Assert.Equal(Sequence, _sim.Authorized);
        Assert.Equal(audio, _sim.Audio);
        // The floor is released once the close was answered.
        await Wait.UntilAsync(() => !gw.Talk.Floor.IsHeld(TalkTestGateway.DeviceId, 1), "the floor is free again", 3000);
    }

    [Fact]
    public async Task IsapiTalk_NeitherBackchannelNorIsapiTalk_Gets551()
    {
        _sim.TalkCodec = null;
        await using var camera = await GstRtspCamera.StartAsync(new GstCameraOptions { Backchannel = false });
        await using var gw = await TalkTestGateway.StartAsync(camera.Url(), new Dictionary<string, string?> { ["Devices:0:IsapiUrl"] = _sim.BaseUri.ToString() },
            user: _sim.Username, password: _sim.Password);
        gw.Grant((Bob, Privilege.LiveView | Privilege.TwoWayAudio));
        await using var client = await RtspTestClient.ConnectAsync(gw.LiveUrl(), TalkTestGateway.Credential(Bob));
        var r = await client.SendAsync("DESCRIBE", gw.LiveUrl().ToString(), [new("Require", BackchannelTalker.RequireBackchannel)]);
        Assert.Equal(551, r.StatusCode);
        Assert.Equal(BackchannelTalker.RequireBackchannel, r.Header("Unsupported"));
    }
}
