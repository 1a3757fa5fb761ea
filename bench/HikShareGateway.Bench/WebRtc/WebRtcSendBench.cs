using System.Diagnostics;
using HikShareGateway.WebRtc.Rtp;
using HikShareGateway.WebRtc.Srtp;

namespace HikShareGateway.Bench.WebRtc;

/// <summary>
/// The per-viewer WebRTC send path without the socket: H.264 FU-A packetization to a 1200-byte MTU, the
/// per-viewer RTP header, SRTP protect and the NACK history copy, for both SRTP profiles. Prints ns and bytes
/// allocated per packet and the Mbit/s one core sustains.
/// </summary>
public static class WebRtcSendBench
{
    public static Task<int> RunAsync(string[] args)
    {
        var frames = args.Length > 0 && int.TryParse(args[0], out var f) ? f : 20_000;
        Console.WriteLine($"webrtc-send: {frames} access units of 8 KiB (one slice each), MTU 1200, one viewer");
        foreach (var profile in new[] { SrtpProfile.AeadAes128Gcm, SrtpProfile.AesCm128HmacSha1_80 })
        {
            var key = new byte[16];
            var salt = new byte[SrtpProfileInfo.MasterSaltLength(profile)];
            Random.Shared.NextBytes(key);
            Random.Shared.NextBytes(salt);
            using var srtp = new SrtpContext(profile, key, salt);
            var writer = new RtpStreamWriter(0x1234, 102, 90000);
            var history = new PacketHistory();
            var slice = new byte[8192];
            Random.Shared.NextBytes(slice);
            slice[0] = 0x41;
            var packet = new byte[1600];
            long packets = 0, bytes = 0;

            void Run(int count)
            {
                for (var i = 0; i < count; i++)
                {
                    var p = H264Packetizer.ForNal(slice, 1200 - RtpStreamWriter.HeaderLength);
                    while (p.TryNext(packet.AsSpan(RtpStreamWriter.HeaderLength), out var n, out var last))
                    {
                        var seq = writer.WriteHeader(packet, last, (uint)(i * 3600), n);
                        var length = srtp.ProtectRtp(packet, RtpStreamWriter.HeaderLength + n);
                        history.Store(seq, packet.AsSpan(0, length));
                        packets++;
                        bytes += length;
                    }
                }
            }

            Run(500);
            packets = bytes = 0;
            var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            var watch = Stopwatch.StartNew();
            Run(frames);
            watch.Stop();
            var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            var ns = watch.Elapsed.TotalNanoseconds / packets;
            var mbits = bytes * 8 / watch.Elapsed.TotalSeconds / 1e6;
            Console.WriteLine($"  {profile,-20} {packets,8} packets  {ns,7:F0} ns/packet  {allocated / (double)packets,5:F1} B/packet  {mbits,7:F0} Mbit/s per core");
        }
        Console.WriteLine($"command: dotnet run -c Release --project bench/HikShareGateway.Bench -- webrtc-send {frames}");
        return Task.FromResult(0);
    }
}
