namespace HikShareGateway.Core.Configuration;

/// <summary>Options that can check themselves. Every error names the key and the fix; all are reported at once.</summary>
public interface IValidatableOptions
{
    /// <summary>Adds one message per problem, each starting with the full key (e.g. <c>Rtsp:Port</c>).</summary>
    void Validate(ICollection<string> errors);
}

/// <summary>Section <c>Gateway</c>.</summary>
public sealed class GatewayOptions : IValidatableOptions
{
    public const string Section = "Gateway";

    /// <summary>This gateway's id; grants for another id are rejected. Required.</summary>
    public string Id { get; set; } = "";

    /// <summary>Where grants and other state survive restarts. Default <c>/var/lib/hikshare-gateway</c>.</summary>
    public string StateDirectory { get; set; } = "/var/lib/hikshare-gateway";

    public void Validate(ICollection<string> errors)
    {
        if (string.IsNullOrWhiteSpace(Id))
        {
            errors.Add("Gateway:Id is required: set it to this gateway's id as known by the cloud (e.g. \"gw-lab-01\").");
        }
        else if (Id.IndexOfAny(['/', '+', '#', ' ']) >= 0)
        {
            errors.Add($"Gateway:Id \"{Id}\" must not contain '/', '+', '#' or spaces (it is part of MQTT topics).");
        }
        if (string.IsNullOrWhiteSpace(StateDirectory))
        {
            errors.Add("Gateway:StateDirectory must name a writable directory (default /var/lib/hikshare-gateway).");
        }
    }
}

/// <summary>Section <c>Limits</c>: caps shared by several protocols.</summary>
public sealed class LimitsOptions : IValidatableOptions
{
    public const string Section = "Limits";

    /// <summary>
    /// Viewing sessions one account may hold at once over RTSP and fMP4 together (an RTSP connection that opened
    /// media, a live or playback .mp4 response). Default 32. WebRTC has its own, <c>WebRtc:MaxSessionsPerAccount</c>.
    /// </summary>
    public int SessionsPerAccount { get; set; } = 32;

    public void Validate(ICollection<string> errors)
    {
        if (SessionsPerAccount is < 1 or > 100_000)
        {
            errors.Add($"Limits:SessionsPerAccount must be 1..100000 (default 32), not {SessionsPerAccount}.");
        }
    }
}

/// <summary>Section <c>Http</c>.</summary>
public sealed class HttpOptions : IValidatableOptions
{
    public const string Section = "Http";

    /// <summary>HTTP API port. Default 8080. 0 disables the HTTP API.</summary>
    public int Port { get; set; } = 8080;

    /// <summary>Address to listen on. Default all interfaces (<c>0.0.0.0</c> and <c>::</c>).</summary>
    public string BindAddress { get; set; } = "*";

    /// <summary>Connections held at once on the HTTP API port, all clients together. Default 1000.</summary>
    public int MaxConnections { get; set; } = 1000;

    /// <summary>
    /// Connections held at once from one remote address: one client cannot take the port from the others (issue: 5000
    /// idle keep-alive connections from one address were all held). Default 64.
    /// </summary>
    public int MaxConnectionsPerAddress { get; set; } = 64;

    /// <summary>Seconds a client has to send a whole request's headers. Default 10.</summary>
    public int RequestHeadersTimeoutSeconds { get; set; } = 10;

    /// <summary>Seconds an idle keep-alive connection is held. Default 30.</summary>
    public int KeepAliveTimeoutSeconds { get; set; } = 30;

    public void Validate(ICollection<string> errors)
    {
        if (Port is < 0 or > 65535)
        {
            errors.Add($"Http:Port {Port} is out of range: use 1-65535 (default 8080), or 0 to disable the HTTP API.");
        }
        if (MaxConnections < 1)
        {
            errors.Add($"Http:MaxConnections {MaxConnections} must be 1 or more (default 1000).");
        }
        if (MaxConnectionsPerAddress < 1 || MaxConnectionsPerAddress > MaxConnections)
        {
            errors.Add($"Http:MaxConnectionsPerAddress {MaxConnectionsPerAddress} must be between 1 and Http:MaxConnections (default 64).");
        }
        if (RequestHeadersTimeoutSeconds is < 1 or > 300)
        {
            errors.Add($"Http:RequestHeadersTimeoutSeconds {RequestHeadersTimeoutSeconds} must be 1-300 (default 10).");
        }
        if (KeepAliveTimeoutSeconds is < 1 or > 3600)
        {
            errors.Add($"Http:KeepAliveTimeoutSeconds {KeepAliveTimeoutSeconds} must be 1-3600 (default 30).");
        }
    }
}

/// <summary>Section <c>Discovery</c>.</summary>
public sealed class DiscoveryOptions : IValidatableOptions
{
    public const string Section = "Discovery";

    /// <summary>ONVIF WS-Discovery on the LAN. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Seconds between discovery probes. Default 300.</summary>
    public int ProbeIntervalSeconds { get; set; } = 300;

    public void Validate(ICollection<string> errors)
    {
        if (ProbeIntervalSeconds < 10)
        {
            errors.Add($"Discovery:ProbeIntervalSeconds {ProbeIntervalSeconds} is too small: use 10 or more (default 300).");
        }
    }
}

/// <summary>One entry of the <c>Devices</c> array.</summary>
public sealed class DeviceOptions
{
    /// <summary>Required when <see cref="Channels"/> is given; taken from ONVIF (serial number) otherwise.</summary>
    public string? DeviceId { get; set; }
    /// <summary>Optional name shown to viewers (the devices API, the inventory); ONVIF devices default to their <c>name</c> scope.</summary>
    public string? Name { get; set; }
    public string? OnvifUrl { get; set; }
    public string? Username { get; set; }
    public string? Password { get; set; }
    public List<ChannelOptions> Channels { get; set; } = [];
    /// <summary>Optional Hikvision ISAPI base URL (e.g. <c>http://192.0.2.10</c>) for PTZ/two-way-audio fallbacks.</summary>
    public string? IsapiUrl { get; set; }
    /// <summary>Optional <c>auto</c>, <c>decode</c> or <c>device</c>: where this device's snapshots come from, over
    /// <c>Media:SnapshotSource</c> (needs <see cref="DeviceId"/>).</summary>
    public string? SnapshotSource { get; set; }

    public void Validate(int index, ICollection<string> errors)
    {
        var key = $"Devices:{index}";
        if (!Snapshots.SnapshotSources.TryParse(SnapshotSource, Snapshots.SnapshotSource.Auto, out _))
        {
            errors.Add($"{key}:SnapshotSource \"{SnapshotSource}\" is not one of auto, decode, device.");
        }
        else if (!string.IsNullOrWhiteSpace(SnapshotSource) && string.IsNullOrWhiteSpace(DeviceId))
        {
            errors.Add($"{key}:SnapshotSource needs {key}:DeviceId (the source is kept per device id).");
        }
        if (Channels.Count == 0 && string.IsNullOrWhiteSpace(OnvifUrl))
        {
            errors.Add($"{key}: give either OnvifUrl (the device's ONVIF device_service URL) or Channels (explicit stream URLs).");
        }
        if (OnvifUrl is not null && !(Uri.TryCreate(OnvifUrl, UriKind.Absolute, out var u) && (u.Scheme == "http" || u.Scheme == "https")))
        {
            errors.Add($"{key}:OnvifUrl \"{OnvifUrl}\" is not an http(s) URL (e.g. http://192.0.2.10/onvif/device_service).");
        }
        if (Channels.Count > 0 && string.IsNullOrWhiteSpace(DeviceId))
        {
            errors.Add($"{key}:DeviceId is required when Channels are given (e.g. \"cam-lab-1\").");
        }
        if (DeviceId is not null && DeviceId.IndexOfAny(['/', '?', '#', ' ']) >= 0)
        {
            errors.Add($"{key}:DeviceId \"{DeviceId}\" must not contain '/', '?', '#' or spaces (it is part of RTSP paths).");
        }
        var seen = new HashSet<int>();
        for (var i = 0; i < Channels.Count; i++)
        {
            Channels[i].Validate($"{key}:Channels:{i}", errors);
            if (!seen.Add(Channels[i].Channel))
            {
                errors.Add($"{key}:Channels:{i}:Channel {Channels[i].Channel} appears twice.");
            }
        }
    }
}

public sealed class ChannelOptions
{
    /// <summary>1-based channel number.</summary>
    public int Channel { get; set; }
    public string? Name { get; set; }
    public string? Main { get; set; }
    public string? Sub { get; set; }
    /// <summary>Playback URL with <c>{start}</c>/<c>{end}</c> placeholders.</summary>
    public string? Playback { get; set; }
    /// <summary>True: the channel has PTZ (driven through the device's <c>IsapiUrl</c>); shown as <c>ptz</c> in the devices API and the inventory. Default false.</summary>
    public bool Ptz { get; set; }

    public void Validate(string key, ICollection<string> errors)
    {
        if (Channel < 1)
        {
            errors.Add($"{key}:Channel must be 1 or more (channels are 1-based).");
        }
        if (string.IsNullOrWhiteSpace(Main) && string.IsNullOrWhiteSpace(Sub))
        {
            errors.Add($"{key}: give at least Main or Sub (an rtsp:// URL).");
        }
        CheckRtsp(key + ":Main", Main, errors);
        CheckRtsp(key + ":Sub", Sub, errors);
        if (Playback is not null && !Playback.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase) && !Playback.StartsWith("rtsps://", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{key}:Playback must be an rtsp:// URL template with {{start}} and {{end}} placeholders.");
        }
    }

    private static void CheckRtsp(string key, string? value, ICollection<string> errors)
    {
        if (value is null)
        {
            return;
        }
        if (!Uri.TryCreate(value, UriKind.Absolute, out var u) || (u.Scheme != "rtsp" && u.Scheme != "rtsps"))
        {
            errors.Add($"{key} \"{Redact(value)}\" is not an rtsp:// URL.");
        }
    }

    /// <summary>Masks user:password in a URL for messages.</summary>
    public static string Redact(string url)
    {
        var at = url.IndexOf('@');
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        return at > 0 && scheme > 0 && at > scheme ? url[..(scheme + 3)] + "***@" + url[(at + 1)..] : url;
    }
}
