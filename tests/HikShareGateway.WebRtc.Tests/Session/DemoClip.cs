using HikShareGateway.WebRtc.Rtp;

namespace HikShareGateway.WebRtc.Tests.Session;

/// <summary>The demo clip (assets/demo-640x360-25fps.h264) as access units, and a 25 fps sender of it to a session.</summary>
internal static class DemoClip
{
    public static List<List<ReadOnlyMemory<byte>>> AccessUnits()
        => ReadAccessUnits(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "assets", "demo-640x360-25fps.h264"));

    public static async Task SendAt25FpsAsync(WebRtcSession session, List<List<ReadOnlyMemory<byte>>> clip, bool withAudio, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(40));
        uint timestamp = 0, audioTimestamp = 0;
        var silence = new byte[160];
        Array.Fill(silence, (byte)0xD5); // A-law silence, one 20 ms frame
        var i = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                session.SendVideo(clip[i], timestamp);
                timestamp += 3600;
                for (var f = 0; withAudio && f < 2; f++, audioTimestamp += 160) session.SendAudio(silence, audioTimestamp);
                i = (i + 1) % clip.Count;
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>Groups the clip's NAL units into access units: parameter sets and SEI go with the slice that follows.</summary>
    public static List<List<ReadOnlyMemory<byte>>> ReadAccessUnits(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var units = new List<List<ReadOnlyMemory<byte>>>();
        var current = new List<ReadOnlyMemory<byte>>();
        var s = (ReadOnlySpan<byte>)bytes;
        while (AnnexB.TryReadNal(ref s, out var nal))
        {
            // The NAL unit is a slice of the file: its offset turns it back into memory of the array.
            var start = (int)System.Runtime.CompilerServices.Unsafe.ByteOffset(ref bytes[0], ref System.Runtime.InteropServices.MemoryMarshal.GetReference(nal));
            current.Add(bytes.AsMemory(start, nal.Length));
            if ((nal[0] & 0x1F) is 1 or 5)
            {
                units.Add(current);
                current = [];
            }
        }
        return units;
    }
}
