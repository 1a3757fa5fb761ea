namespace HikShareGateway.Bench;

/// <summary>Entry point: <c>bench &lt;name&gt; [options]</c>. Each benchmark prints its figures and the command that reproduces them.</summary>
public static class Program
{
    private static readonly Dictionary<string, (string Description, Func<string[], Task<int>> Run)> Benchmarks = new(StringComparer.Ordinal)
    {
        ["aead"] = ("AEAD per TLS record / SRTP packet: OpenSSL EVP called directly (AeadCipher) vs the framework's AesGcm/ChaCha20Poly1305, ns and GB/s", AeadBench.RunAsync),
        ["access-check"] = ("IAccessPolicy.IsAllowed: ns and bytes allocated per check", Access.AccessCheckBench.RunAsync),
        ["revocation"] = ("100 live sessions (--rtsp: real RTSP viewers through the relay) cut by one delta via mosquitto: publish -> last close p50/p99", Access.RevocationBench.RunAsync),
        ["fanout"] = ("1 camera of 4 Mbit/s to 100/500/1000 RTSP viewers: gateway vs gst-rtsp-server (bitrate, loss, latency, CPU, RSS, B/packet)", Relay.FanoutBench.RunAsync),
        ["onvif-parse"] = ("ONVIF SOAP parse cost (GetProfiles of a 32-channel NVR, PullMessages → alarms)", OnvifParseBench.RunAsync),
        ["media"] = ("FFmpeg: CPU-ms per 1080p JPEG snapshot, CPU % of one core of an H.265 -> H.264 1080p25 transcoder", Media.MediaBench.RunAsync),
        ["sharing"] = ("the sharing service: share change (PUT) -> applied on the gateway p50/p99, share changes/s (SQLite, --postgres CONN)", Sharing.SharingBench.RunAsync),
        ["snapshot"] = ("Snapshots through the relay (1080p H.264/H.265): latency p50/p99 from the GOP cache and from a cold stream, CPU-ms per JPEG", Media.SnapshotBench.RunAsync),
        ["transcode"] = ("A derived H.264 stream of a 1080p25 H.265 stream: CPU % of one core, added latency p50/p99, memory of one transcoder", Media.TranscodeBench.RunAsync),
        ["soak"] = ("Viewer churn at 100 concurrent (RTSP + fMP4, play 5-30 s) for --minutes (60), camera restart every 10 min, broker every 20: RSS, FDs, threads, GC heap slopes, errors", Soak.SoakBench.RunAsync),
        ["webrtc"] = ("N WebRTC viewers (WHEP, ICE, DTLS-SRTP clients in process) of one 4 Mbit/s camera: gateway CPU, RSS, loss, latency, B/packet; revocation of 100 sessions; SRTP cost", WebRtc.WebRtcViewersBench.RunAsync),
        ["webrtc-first-frame"] = ("WHEP POST -> first decoded frame in headless Chromium on loopback: p50 over --runs (20), with the ICE/DTLS steps", WebRtc.WebRtcFirstFrameBench.RunAsync),
        ["webrtc-send"] = ("WebRTC per-viewer send path: FU-A packetize + RTP header + SRTP (GCM, AES-CM) + NACK history: ns, B, Mbit/s per packet", WebRtc.WebRtcSendBench.RunAsync),
    };

    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || !Benchmarks.TryGetValue(args[0], out var bench))
        {
            Console.WriteLine("usage: dotnet run -c Release --project bench/HikShareGateway.Bench -- <benchmark> [options]\n\nbenchmarks:");
            foreach (var (name, b) in Benchmarks)
            {
                Console.WriteLine($"  {name,-14} {b.Description}");
            }
            return args.Length == 0 ? 0 : 2;
        }
        return await bench.Run(args[1..]);
    }
}
