using System.Buffers;
using System.Text;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Tests.Infrastructure;

namespace HikShareGateway.Tests.Rtsp.Protocol;

/// <summary>Builds multi-segment sequences, as a socket delivers them (Kestrel's HttpParserTests do the same).</summary>
internal sealed class TestSegment : ReadOnlySequenceSegment<byte>
{
    public TestSegment(ReadOnlyMemory<byte> memory) => Memory = memory;

    public TestSegment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new TestSegment(memory) { RunningIndex = RunningIndex + Memory.Length };
        Next = next;
        return next;
    }

    /// <summary>One segment per chunk; an empty chunk list gives an empty sequence.</summary>
    public static ReadOnlySequence<byte> Sequence(params ReadOnlyMemory<byte>[] chunks)
    {
        if (chunks.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }
        var first = new TestSegment(chunks[0]);
        var last = first;
        foreach (var c in chunks.AsSpan(1))
        {
            last = last.Append(c);
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Every byte in its own segment.</summary>
    public static ReadOnlySequence<byte> BytePerSegment(byte[] bytes) =>
        Sequence(bytes.Select((_, i) => (ReadOnlyMemory<byte>)bytes.AsMemory(i, 1)).ToArray());
}

/// <summary>Shared helpers for the RTSP protocol tests.</summary>
internal static class RtspTestKit
{
    public static string FixtureDir => TestData.PathOf("rtsp");

    public static byte[] Fixture(string name) => TestData.Bytes("rtsp", name);

    public static string[] FixtureNames() =>
        TestData.Files("rtsp", "*.txt").Select(Path.GetFileName).Cast<string>().ToArray();

    public static byte[] Ascii(string s) => Encoding.Latin1.GetBytes(s);

    /// <summary>One call of the parser over the whole buffer.</summary>
    public static (RtspReadStatus Status, RtspMessage? Message, InterleavedHeader Frame, string? Error, long Consumed) Read(ReadOnlySequence<byte> seq, RtspLimits? limits = null)
    {
        var reader = new SequenceReader<byte>(seq);
        var status = RtspParser.TryRead(ref reader, limits ?? RtspLimits.Default, out var message, out var frame, out var error);
        return (status, message, frame, error, reader.Consumed);
    }

    public static (RtspReadStatus Status, RtspMessage? Message, InterleavedHeader Frame, string? Error, long Consumed) Read(byte[] bytes, RtspLimits? limits = null) =>
        Read(new ReadOnlySequence<byte>(bytes), limits);

    /// <summary>Start line, header fields in order and body (hex) of a message, for comparing two parses.</summary>
    public static string Describe(RtspMessage m) =>
        $"{m.IsRequest}|{m.Method}|{m.Uri}|{m.StatusCode}|{m.Reason}|" +
        string.Join("|", m.Headers.Fields.Select(f => f.Key + "=" + f.Value)) + "|" + Convert.ToHexString(m.Body);

    /// <summary>The SDP body of a DESCRIBE fixture, parsed.</summary>
    public static SessionDescription SdpOf(string fixture)
    {
        var r = Read(Fixture(fixture));
        Assert.Equal(RtspReadStatus.Message, r.Status);
        return SessionDescription.Parse(r.Message!.BodyText);
    }
}
