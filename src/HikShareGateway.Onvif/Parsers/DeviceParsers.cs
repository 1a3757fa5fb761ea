using System.Xml.Linq;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Soap;

namespace HikShareGateway.Onvif.Parsers;

public sealed record OnvifDeviceInformation(string? Manufacturer, string? Model, string? FirmwareVersion, string? SerialNumber, string? HardwareId);

/// <summary>Service addresses from GetCapabilities or GetServices, as the device wrote them (not yet rewritten).</summary>
public sealed record OnvifServiceAddresses
{
    public Uri? Device { get; init; }
    public Uri? Media { get; init; }
    public Uri? Media2 { get; init; }
    public Uri? Ptz { get; init; }
    public Uri? Events { get; init; }
    public Uri? Imaging { get; init; }
    public Uri? Analytics { get; init; }
    public Uri? Search { get; init; }
    public Uri? Replay { get; init; }
    public Uri? Recording { get; init; }
    public Uri? DeviceIo { get; init; }

    /// <summary>Fills the gaps of this one from <paramref name="other"/>.</summary>
    public OnvifServiceAddresses Merge(OnvifServiceAddresses other) => new()
    {
        Device = Device ?? other.Device,
        Media = Media ?? other.Media,
        Media2 = Media2 ?? other.Media2,
        Ptz = Ptz ?? other.Ptz,
        Events = Events ?? other.Events,
        Imaging = Imaging ?? other.Imaging,
        Analytics = Analytics ?? other.Analytics,
        Search = Search ?? other.Search,
        Replay = Replay ?? other.Replay,
        Recording = Recording ?? other.Recording,
        DeviceIo = DeviceIo ?? other.DeviceIo,
    };
}

/// <summary>Pure parsers of Device service responses (ONVIF Device Management, ver10/device/wsdl).</summary>
public static class DeviceParsers
{
    public static OnvifDeviceInformation ParseDeviceInformation(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Tds + "GetDeviceInformationResponse", "GetDeviceInformation");
        return new OnvifDeviceInformation(r.Text("Manufacturer"), r.Text("Model"), r.Text("FirmwareVersion"), r.Text("SerialNumber"), r.Text("HardwareId"));
    }

    /// <summary>The device's UTC clock (<c>SystemDateAndTime/UTCDateTime</c>); null when the device leaves it out.</summary>
    public static DateTimeOffset? ParseSystemDateAndTime(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Tds + "GetSystemDateAndTimeResponse", "GetSystemDateAndTime");
        var utc = r.Path("SystemDateAndTime", "UTCDateTime");
        if (utc is null)
        {
            return null;
        }
        try
        {
            return new DateTimeOffset(utc.Int("Date", "Year"), utc.Int("Date", "Month"), utc.Int("Date", "Day"),
                utc.Int("Time", "Hour"), utc.Int("Time", "Minute"), utc.Int("Time", "Second"), TimeSpan.Zero);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new DeviceException(DeviceErrorKind.Failed, "GetSystemDateAndTime: the device's UTCDateTime is not a valid date.", e);
        }
    }

    public static OnvifServiceAddresses ParseCapabilities(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Tds + "GetCapabilitiesResponse", "GetCapabilities");
        var c = r.Child("Capabilities");
        var ext = c.Child("Extension");
        return new OnvifServiceAddresses
        {
            Device = Xml.AbsoluteUri(c.Text("Device", "XAddr")),
            Media = Xml.AbsoluteUri(c.Text("Media", "XAddr")),
            Ptz = Xml.AbsoluteUri(c.Text("PTZ", "XAddr")),
            Events = Xml.AbsoluteUri(c.Text("Events", "XAddr")),
            Imaging = Xml.AbsoluteUri(c.Text("Imaging", "XAddr")),
            Analytics = Xml.AbsoluteUri(c.Text("Analytics", "XAddr")),
            Search = Xml.AbsoluteUri(ext.Text("Search", "XAddr")),
            Replay = Xml.AbsoluteUri(ext.Text("Replay", "XAddr")),
            Recording = Xml.AbsoluteUri(ext.Text("Recording", "XAddr")),
            DeviceIo = Xml.AbsoluteUri(ext.Text("DeviceIO", "XAddr")),
        };
    }

    public static OnvifServiceAddresses ParseServices(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Tds + "GetServicesResponse", "GetServices");
        var result = new OnvifServiceAddresses();
        foreach (var s in r.Children("Service"))
        {
            var ns = s.Text("Namespace");
            var x = Xml.AbsoluteUri(s.Text("XAddr"));
            if (ns is null || x is null)
            {
                continue;
            }
            result = ns switch
            {
                "http://www.onvif.org/ver10/device/wsdl" => result with { Device = result.Device ?? x },
                "http://www.onvif.org/ver10/media/wsdl" => result with { Media = result.Media ?? x },
                "http://www.onvif.org/ver20/media/wsdl" => result with { Media2 = result.Media2 ?? x },
                "http://www.onvif.org/ver20/ptz/wsdl" => result with { Ptz = result.Ptz ?? x },
                "http://www.onvif.org/ver10/events/wsdl" => result with { Events = result.Events ?? x },
                "http://www.onvif.org/ver20/imaging/wsdl" => result with { Imaging = result.Imaging ?? x },
                "http://www.onvif.org/ver20/analytics/wsdl" => result with { Analytics = result.Analytics ?? x },
                "http://www.onvif.org/ver10/search/wsdl" => result with { Search = result.Search ?? x },
                "http://www.onvif.org/ver10/replay/wsdl" => result with { Replay = result.Replay ?? x },
                "http://www.onvif.org/ver10/recording/wsdl" => result with { Recording = result.Recording ?? x },
                "http://www.onvif.org/ver10/deviceIO/wsdl" => result with { DeviceIo = result.DeviceIo ?? x },
                _ => result,
            };
        }
        return result;
    }

    public static IReadOnlyList<string> ParseScopes(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Tds + "GetScopesResponse", "GetScopes");
        return [.. r.Children("Scopes").Select(s => s.Text("ScopeItem")).OfType<string>()];
    }
}

/// <summary>ONVIF scope URIs (<c>onvif://www.onvif.org/name/…</c>, Core §7.3.2.2), URL-decoded.</summary>
public sealed record OnvifScopes(string? Name, string? Hardware, string? Location, IReadOnlyList<string> Types)
{
    public static OnvifScopes Parse(IEnumerable<string> scopes)
    {
        string? name = null, hardware = null, location = null;
        var types = new List<string>();
        foreach (var s in scopes)
        {
            const string prefix = "onvif://www.onvif.org/";
            if (!s.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            var rest = s[prefix.Length..];
            var slash = rest.IndexOf('/');
            if (slash < 0)
            {
                continue;
            }
            var key = rest[..slash];
            var value = Uri.UnescapeDataString(rest[(slash + 1)..]);
            switch (key.ToLowerInvariant())
            {
                case "name": name ??= value; break;
                case "hardware": hardware ??= value; break;
                case "location": location = location is null ? value : location + "/" + value; break;
                case "type": types.Add(value); break;
            }
        }
        return new OnvifScopes(name, hardware, location, types);
    }
}
