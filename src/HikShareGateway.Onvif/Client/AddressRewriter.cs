namespace HikShareGateway.Onvif.Client;

/// <summary>
/// Devices write their own IP into service and stream addresses (ONVIF Core §5.1.3 leaves it to them). When the
/// gateway reaches a device at another address (NAT, port forward, a routed network, a test simulator), those
/// addresses are rewritten: service addresses take the host:port of the URL used to reach the device, stream
/// addresses take its host and keep their own (RTSP) port.
/// </summary>
public sealed class AddressRewriter(Uri reached, string? deviceOwnHost)
{
    public Uri Reached { get; } = reached;

    /// <summary>The host the device calls itself (from its Device XAddr); addresses naming other hosts are left alone.</summary>
    public string? DeviceOwnHost { get; } = deviceOwnHost;

    public Uri? Service(Uri? address)
    {
        if (address is null || !NeedsRewrite(address))
        {
            return address;
        }
        var b = new UriBuilder(address) { Scheme = Reached.Scheme, Host = Reached.Host, Port = Reached.Port };
        return b.Uri;
    }

    public Uri? Stream(Uri? address)
    {
        if (address is null || !NeedsRewrite(address))
        {
            return address;
        }
        var b = new UriBuilder(address) { Host = Reached.Host };
        return b.Uri;
    }

    private bool NeedsRewrite(Uri address)
    {
        if (string.Equals(address.Host, Reached.Host, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        return DeviceOwnHost is null || string.Equals(address.Host, DeviceOwnHost, StringComparison.OrdinalIgnoreCase)
            // 0.0.0.0 / localhost from misconfigured firmware also mean "me".
            || address.Host is "0.0.0.0" or "localhost" or "127.0.0.1";
    }
}
