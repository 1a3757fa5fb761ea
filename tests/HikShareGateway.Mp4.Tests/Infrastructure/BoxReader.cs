using System.Buffers.Binary;
using System.Text;

namespace HikShareGateway.Mp4.Tests.Infrastructure;

/// <summary>One ISO BMFF box found by <see cref="BoxReader"/>: where it is, and its children when it is a container.</summary>
public sealed record Box(string Type, int Offset, int Size, int HeaderSize, List<Box> Children, byte[] File)
{
    public ReadOnlySpan<byte> Payload => File.AsSpan(Offset + HeaderSize, Size - HeaderSize);

    public Box Child(string type) => Children.SingleOrDefault(c => c.Type == type) ?? throw new Xunit.Sdk.XunitException($"{Type} has no {type} (has {string.Join(",", Children.Select(c => c.Type))})");

    /// <summary>The first box of <paramref name="path"/> ("moov/trak/mdia"), depth first.</summary>
    public Box Find(string path)
    {
        Box box = this;
        foreach (string part in path.Split('/'))
        {
            box = box.Children.First(c => c.Type == part);
        }

        return box;
    }

    public uint U32(int payloadOffset) => BinaryPrimitives.ReadUInt32BigEndian(Payload.Slice(payloadOffset));

    public ulong U64(int payloadOffset) => BinaryPrimitives.ReadUInt64BigEndian(Payload.Slice(payloadOffset));
}

/// <summary>
/// A pure ISO BMFF box walker for tests: checks that every box's size fits its parent and that a container's
/// children fill it exactly. Knows the containers and sample entries this project writes.
/// </summary>
public static class BoxReader
{
    private static readonly HashSet<string> Containers = ["moov", "trak", "mdia", "minf", "dinf", "stbl", "mvex", "moof", "traf", "edts", "mfra"];

    /// <summary>Bytes before the child boxes: full box headers with counts, and sample entry fields.</summary>
    private static readonly Dictionary<string, int> ChildrenAfter = new()
    {
        ["stsd"] = 8,
        ["dref"] = 8,
        ["avc1"] = 78,
        ["avc3"] = 78,
        ["hvc1"] = 78,
        ["hev1"] = 78,
        ["fLaC"] = 28,
        ["mp4a"] = 28,
        ["Opus"] = 28,
    };

    /// <summary>The top-level boxes of <paramref name="file"/> as children of a root box of type "file".</summary>
    public static Box Read(byte[] file)
    {
        var root = new Box("file", 0, file.Length, 0, [], file);
        ReadChildren(file, 0, file.Length, root.Children);
        return root;
    }

    private static void ReadChildren(byte[] file, int start, int end, List<Box> into)
    {
        int offset = start;
        while (offset < end)
        {
            Assert.True(end - offset >= 8, $"a box header is cut at {offset}");
            long size = BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(offset));
            string type = Encoding.ASCII.GetString(file, offset + 4, 4);
            int header = 8;
            if (size == 1)
            {
                size = (long)BinaryPrimitives.ReadUInt64BigEndian(file.AsSpan(offset + 8));
                header = 16;
            }
            else if (size == 0)
            {
                size = end - offset;
            }

            Assert.True(size >= header && offset + size <= end, $"{type} at {offset}: size {size} does not fit in its parent (ends at {end})");
            var box = new Box(type, offset, (int)size, header, [], file);
            if (Containers.Contains(type))
            {
                ReadChildren(file, offset + header, offset + (int)size, box.Children);
            }
            else if (ChildrenAfter.TryGetValue(type, out int skip))
            {
                Assert.True(size - header >= skip, $"{type} is too short for its fields");
                ReadChildren(file, offset + header + skip, offset + (int)size, box.Children);
            }

            into.Add(box);
            offset += (int)size;
        }

        Assert.Equal(end, offset);
    }
}
