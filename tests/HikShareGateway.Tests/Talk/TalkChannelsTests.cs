using System.Buffers;
using System.Buffers.Binary;
using HikShareGateway.Core.Access;
using HikShareGateway.Core.Audio;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Talk;
using Microsoft.Extensions.Logging.Abstractions;

namespace HikShareGateway.Tests.Talk;

/// <summary>
/// <see cref="TalkChannels"/>, the WebRTC side of the talk path: the RTSP floor shared, refusals mapped, and each G.711
/// frame sent under the gateway's own RTP header with the payload type of the device's backchannel track.
/// </summary>
[Trait("Category", "Unit")]
public sealed class TalkChannelsTests : IAsyncLifetime
{
    private static readonly DeviceInfo Device = new()
    {
        DeviceId = "cam-1",
        Channels = [new ChannelInfo { Channel = 1, MainUri = new Uri("rtsp://192.0.2.1/Streaming/Channels/101") }],
    };

    private readonly FakeConnector _connector = new();
    private LiveRelay _relay = null!;
    private TalkService _talk = null!;
    private TalkChannels _channels = null!;

    public Task InitializeAsync()
    {
        _relay = new LiveRelay(new NoSource(), new RelayOptions(), TimeProvider.System, NullLoggerFactory.Instance);
        _talk = new TalkService(new DenyAllAccessPolicy(), _connector, null, _relay, TimeSpan.FromSeconds(5), TimeProvider.System, NullLogger<TalkService>.Instance);
        _channels = new TalkChannels(_talk, NullLogger<TalkChannels>.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _relay.DisposeAsync();

    private Task<TalkOpenResult> OpenAsync() => _channels.OpenAsync(Device, Device.Channels[0], StreamKind.Main, "198.51.100.7:5000", CancellationToken.None);

    [Fact]
    public async Task Open_TakesTheRtspFloor_ASecondOpenIsBusy_UntilTheFirstIsDisposed()
    {
        var first = await OpenAsync();
        Assert.NotNull(first.Channel);
        Assert.True(_talk.Floor.IsHeld("cam-1", 1)); // the RTSP talkers' floor: they exclude each other
        var second = await OpenAsync();
        Assert.Equal(TalkRefusal.Busy, second.Refusal);
        Assert.Null(second.Channel);

        await first.Channel!.DisposeAsync();
        Assert.True(_connector.Targets[0].Disposed);
        Assert.False(_talk.Floor.IsHeld("cam-1", 1));
        var third = await OpenAsync();
        Assert.NotNull(third.Channel);
        await third.Channel!.DisposeAsync();
    }

    [Fact]
    public async Task Write_SendsRtpWithTheDevicesPayloadType_OneSsrc_ConsecutiveSequence_AndTheCallersTimestamps()
    {
        _connector.Track = Track("97 0", "97 PCMA/8000");
        var opened = await OpenAsync();
        await using var channel = opened.Channel!;
        Assert.Equal([TalkCodec.Pcma, TalkCodec.Pcmu], channel.Codecs);
        var samples = Enumerable.Range(0, 160).Select(i => (byte)i).ToArray();
        channel.Write(TalkCodec.Pcma, samples, 1000, marker: true);
        channel.Write(TalkCodec.Pcmu, samples, 1160, marker: false);

        var packets = _connector.Targets[0].Packets;
        Assert.Equal(2, packets.Count);
        Assert.Equal(2, channel.FramesWritten);
        var (a, b) = (packets[0], packets[1]);
        Assert.Equal(12 + 160, a.Length);
        Assert.Equal(0x80, a[0]);
        Assert.Equal(0x80 | 97, a[1]);                  // marker + the dynamic PCMA type of the device's track
        Assert.Equal(0, b[1]);                          // PCMU: static type 0
        Assert.Equal((ushort)(BinaryPrimitives.ReadUInt16BigEndian(a.AsSpan(2)) + 1), BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(2)));
        Assert.Equal(1000u, BinaryPrimitives.ReadUInt32BigEndian(a.AsSpan(4)));
        Assert.Equal(1160u, BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(4)));
        Assert.Equal(BinaryPrimitives.ReadUInt32BigEndian(a.AsSpan(8)), BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(8)));
        Assert.Equal(samples, a[12..]);
    }

    [Fact]
    public async Task Write_ACodecTheDeviceDoesNotTake_IsDropped()
    {
        _connector.Track = Track("0");
        await using var channel = (await OpenAsync()).Channel!;
        channel.Write(TalkCodec.Pcma, new byte[160], 0, false);
        Assert.Empty(_connector.Targets[0].Packets);
        Assert.Equal(0, channel.FramesWritten);
    }

    [Fact]
    public async Task Open_DeviceWithoutBackchannel_OrOnlyAac_IsNoBackchannel_AndTheFloorIsFree()
    {
        _connector.NotSupported = true;
        Assert.Equal(TalkRefusal.NoBackchannel, (await OpenAsync()).Refusal);
        Assert.False(_talk.Floor.IsHeld("cam-1", 1));

        _connector.NotSupported = false;
        _connector.Track = Track("96", "96 MPEG4-GENERIC/16000");
        Assert.Equal(TalkRefusal.NoBackchannel, (await OpenAsync()).Refusal);
        Assert.True(_connector.Targets[^1].Disposed);
        Assert.False(_talk.Floor.IsHeld("cam-1", 1));
    }

    [Fact]
    public async Task Open_DeviceFailure_IsDeviceFailed_AndTheFloorIsFree()
    {
        _connector.Failure = new DeviceException(DeviceErrorKind.Failed, "connection refused");
        Assert.Equal(TalkRefusal.DeviceFailed, (await OpenAsync()).Refusal);
        Assert.False(_talk.Floor.IsHeld("cam-1", 1));
    }

    private static SdpMedia Track(string formats, params string[] rtpmaps)
    {
        var media = new SdpMedia { Type = "audio", Protocol = "RTP/AVP", Formats = formats.Split(' ') };
        foreach (var map in rtpmaps)
        {
            media.Attributes.Add(new("rtpmap", map));
        }
        return media;
    }

    private sealed class FakeConnector : ITalkTargetConnector
    {
        public SdpMedia Track { get; set; } = TalkChannelsTests.Track("0");
        public bool NotSupported { get; set; }
        public Exception? Failure { get; set; }
        public List<FakeTarget> Targets { get; } = [];

        public Task<ITalkTarget> OpenOnvifAsync(DeviceInfo device, Uri uri, CancellationToken ct)
        {
            if (Failure is not null) throw Failure;
            if (NotSupported) throw new DeviceException(DeviceErrorKind.NotSupported, "551 from the camera");
            var target = new FakeTarget(Track);
            Targets.Add(target);
            return Task.FromResult<ITalkTarget>(target);
        }
    }

    private sealed class FakeTarget(SdpMedia track) : ITalkTarget
    {
        public SdpMedia Track { get; } = track;
        public string Kind => "onvif";
        public Task Completion => new TaskCompletionSource().Task;
        public List<byte[]> Packets { get; } = [];
        public bool Disposed { get; private set; }
        public void OnPacket(bool rtcp, ReadOnlySequence<byte> packet) => Packets.Add(packet.ToArray());

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            return ValueTask.CompletedTask;
        }
    }

    private sealed class NoSource : IMediaSourceConnector
    {
        public Task<IMediaSource> ConnectAsync(string deviceId, int channel, StreamKind kind, CancellationToken ct) => throw new NotSupportedException();
    }
}
