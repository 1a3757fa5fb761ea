using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using HikShareGateway.WebRtc.Sdp;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>Host candidates for the answer: the gateway's addresses on the mux port, then <c>AdditionalHosts</c>.</summary>
public static class HostCandidates
{
    /// <summary>Candidates for the given addresses, in order of preference (the first gets the highest priority).</summary>
    public static IReadOnlyList<SdpCandidate> For(IEnumerable<string> hosts, int port)
    {
        var list = new List<SdpCandidate>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var host in hosts)
        {
            if (!seen.Add(host)) continue;
            var i = list.Count;
            // RFC 8445 §5.1.2.1: distinct local preferences keep priorities unique per candidate.
            list.Add(new SdpCandidate((i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), 1, "udp",
                SdpCandidate.HostPriority(65535 - i), host, port, "host"));
        }
        return list;
    }

    /// <summary>The addresses of the interfaces that are up (no link-local IPv6; loopback only when asked).</summary>
    public static IReadOnlyList<string> LocalAddresses(bool includeLoopback)
    {
        var result = new List<string>();
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (nic.OperationalStatus != OperationalStatus.Up) continue;
            var loopback = nic.NetworkInterfaceType == NetworkInterfaceType.Loopback;
            if (loopback && !includeLoopback) continue;
            foreach (var a in nic.GetIPProperties().UnicastAddresses)
            {
                var ip = a.Address;
                if (ip.AddressFamily == AddressFamily.InterNetworkV6 && (ip.IsIPv6LinkLocal || ip.IsIPv6SiteLocal)) continue;
                if (ip.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)) continue;
                result.Add(ip.ToString());
            }
        }
        return result;
    }

    public static IReadOnlyList<SdpCandidate> Gather(WebRtcOptions options, int boundPort)
        => For(LocalAddresses(options.IncludeLoopback).Concat(options.AdditionalHosts), boundPort);
}
