using System.Buffers;
using HikShareGateway.Rtsp.Protocol;
using static HikShareGateway.Tests.Rtsp.Protocol.RtspTestKit;

namespace HikShareGateway.Tests.Rtsp.Protocol;

/// <summary>The one RTSP read loop: frames and messages reach the handler once each, the reader always advances for it.</summary>
[Trait("Category", "Unit")]
public sealed class RtspFrameReaderTests
{
    private static byte[] Frame(byte channel, params byte[] payload) =>
        [(byte)'$', channel, (byte)(payload.Length >> 8), (byte)payload.Length, .. payload];

    private static readonly byte[][] Items =
    [
        Frame(0, 0x80, 0x60, 0x00, 0x01),
        Ascii("RTSP/1.0 200 OK\r\nCSeq: 4\r\n\r\n"),
        Frame(1, 0x81, 0xC8),
        Ascii("OPTIONS * RTSP/1.0\r\nCSeq: 5\r\n\r\n"),
        Frame(2, 0x80, 0x60, 0x00, 0x02, 0xAA),
    ];

    private static readonly byte[] Stream = [.. Items.SelectMany(i => i)];

    private static readonly string[] All = ["$0:80600001", "200 4", "$1:81C8", "OPTIONS 5", "$2:80600002AA"];

    private sealed class Recorder(bool stopAtRequest = false) : IRtspFrameHandler
    {
        public List<string> Events { get; } = [];

        public void OnInterleaved(InterleavedHeader frame, ReadOnlySequence<byte> payload) =>
            Events.Add($"${frame.Channel}:{Convert.ToHexString(payload.ToArray())}");

        public bool OnMessage(RtspMessage message)
        {
            Events.Add(message.IsRequest ? $"{message.Method} {message.CSeq}" : $"{message.StatusCode} {message.CSeq}");
            return !(stopAtRequest && message.IsRequest);
        }
    }

    /// <summary>Runs passes as a connection does: each pass over what is left, until nothing complete remains.</summary>
    private static List<string> ReadInPasses(ReadOnlySequence<byte> input, Recorder handler, out long consumed)
    {
        consumed = 0;
        while (true)
        {
            var reader = new SequenceReader<byte>(input.Slice(consumed));
            var status = RtspFrameReader.ReadFrames(ref reader, RtspLimits.Default, handler, out var error);
            Assert.Null(error);
            consumed += reader.Consumed;
            if (status == RtspReadStatus.NeedMore)
            {
                return handler.Events;
            }
        }
    }

    [Fact]
    public void ReadFrames_MixedStream_HandsOverEveryFrameAndMessageInOrderAndConsumesAll()
    {
        var events = ReadInPasses(new ReadOnlySequence<byte>(Stream), new Recorder(), out var consumed);
        Assert.Equal(All, events);
        Assert.Equal(Stream.Length, consumed);
    }

    [Fact]
    public void ReadFrames_EveryPrefix_HandsOverOnlyCompleteItemsAndConsumesExactlyThem()
    {
        // Boundaries after each item: a prefix that ends inside an item must leave that item unconsumed.
        var ends = new List<int>();
        var at = 0;
        foreach (var item in Items)
        {
            at += item.Length;
            ends.Add(at);
        }
        for (var n = 0; n <= Stream.Length; n++)
        {
            var events = ReadInPasses(new ReadOnlySequence<byte>(Stream, 0, n), new Recorder(), out var consumed);
            var complete = ends.Count(e => e <= n);
            Assert.Equal(All[..complete], events);
            Assert.Equal(complete == 0 ? 0 : ends[complete - 1], consumed);
        }
    }

    [Fact]
    public void ReadFrames_BytePerSegment_SameAsContiguous()
    {
        var events = ReadInPasses(TestSegment.BytePerSegment(Stream), new Recorder(), out var consumed);
        Assert.Equal(All, events);
        Assert.Equal(Stream.Length, consumed);
    }

    [Fact]
    public void ReadFrames_HandlerStopsAtRequest_ReturnsMessageAndLeavesTheRestUnread()
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Stream));
        var handler = new Recorder(stopAtRequest: true);
        var status = RtspFrameReader.ReadFrames(ref reader, RtspLimits.Default, handler, out _);
        Assert.Equal(RtspReadStatus.Message, status);
        Assert.Equal(All[..4], handler.Events);
        Assert.Equal(Stream.Length - Items[^1].Length, reader.Consumed);
    }

    [Fact]
    public void ReadFrames_Garbage_ReportsErrorAfterTheItemsBeforeIt()
    {
        byte[] input = [.. Frame(0, 0x01), .. Ascii("\x01\x02garbage")];
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(input));
        var handler = new Recorder();
        var status = RtspFrameReader.ReadFrames(ref reader, RtspLimits.Default, handler, out var error);
        Assert.Equal(RtspReadStatus.Error, status);
        Assert.NotNull(error);
        Assert.Equal(["$0:01"], handler.Events);
        Assert.Equal(5, reader.Consumed);
    }
}
