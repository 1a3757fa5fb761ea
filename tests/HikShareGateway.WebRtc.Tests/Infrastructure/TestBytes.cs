using System.Buffers;

namespace HikShareGateway.WebRtc.Tests.Infrastructure;

internal static class TestBytes
{
    /// <summary>Hex as RFCs print it (spaces, line breaks) to bytes.</summary>
    public static byte[] Hex(string text)
    {
        var digits = new System.Text.StringBuilder(text.Length);
        foreach (var c in text) if (Uri.IsHexDigit(c)) digits.Append(c);
        return Convert.FromHexString(digits.ToString());
    }

    /// <summary>The bytes as a sequence of one-byte segments, to exercise the slow path of parsers.</summary>
    public static ReadOnlySequence<byte> OneBytePerSegment(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return ReadOnlySequence<byte>.Empty;
        var first = new Segment(bytes[..1].ToArray(), 0);
        var last = first;
        for (var i = 1; i < bytes.Length; i++) last = last.Append(bytes.Slice(i, 1).ToArray());
        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }

    /// <summary>Seeded mutations (bit flips, truncation, insertion, deletion, duplication) of a seed.</summary>
    public static byte[] Mutate(Random random, byte[] source)
    {
        var bytes = new List<byte>(source);
        var edits = random.Next(1, 6);
        for (var e = 0; e < edits; e++)
        {
            switch (random.Next(5))
            {
                case 0 when bytes.Count > 0:
                    var i = random.Next(bytes.Count);
                    bytes[i] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when bytes.Count > 0:
                    bytes.RemoveRange(random.Next(bytes.Count), 1);
                    break;
                case 2:
                    var insert = new byte[random.Next(1, 20)];
                    random.NextBytes(insert);
                    bytes.InsertRange(random.Next(bytes.Count + 1), insert);
                    break;
                case 3 when bytes.Count > 0:
                    var keep = random.Next(bytes.Count);
                    bytes.RemoveRange(keep, bytes.Count - keep);
                    break;
                case 4 when bytes.Count > 1:
                    var from = random.Next(bytes.Count);
                    var len = Math.Min(bytes.Count - from, random.Next(1, 40));
                    bytes.InsertRange(random.Next(bytes.Count + 1), bytes.GetRange(from, len));
                    break;
            }
        }
        return [.. bytes];
    }

    /// <summary>Even cases a mutated seed, odd cases random bytes.</summary>
    public static byte[] MutatedOrRandom(int c, Random random, byte[][] seeds, int maxLength)
    {
        if (c % 2 == 0) return Mutate(random, seeds[random.Next(seeds.Length)]);
        var bytes = new byte[random.Next(maxLength + 1)];
        random.NextBytes(bytes);
        return bytes;
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
