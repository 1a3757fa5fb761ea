using System.Xml.Linq;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Soap;

namespace HikShareGateway.Onvif.Parsers;

public sealed record OnvifVideoSource(string Token, int Width, int Height, double? Framerate);

/// <summary>A media profile (Media ver10 or Media2 ver20), reduced to what channel mapping needs.</summary>
public sealed record OnvifProfile(
    string Token,
    string? Name,
    string? VideoSourceToken,
    string? VideoSourceConfigurationToken,
    string? Encoding,
    int Width,
    int Height,
    string? PtzConfigurationToken,
    bool HasAudioOutput)
{
    public long Pixels => (long)Width * Height;
}

/// <summary>Pure parsers of Media (ver10) and Media2 (ver20) responses.</summary>
public static class MediaParsers
{
    public static IReadOnlyList<OnvifVideoSource> ParseVideoSources(XElement body)
    {
        var r = body.Name.Namespace == Ns.Tr2
            ? SoapEnvelope.Expect(body, Ns.Tr2 + "GetVideoSourcesResponse", "GetVideoSources")
            : SoapEnvelope.Expect(body, Ns.Trt + "GetVideoSourcesResponse", "GetVideoSources");
        var list = new List<OnvifVideoSource>();
        foreach (var v in r.Children("VideoSources"))
        {
            var token = v.Attr("token");
            if (token is null)
            {
                continue;
            }
            list.Add(new OnvifVideoSource(token, v.Int("Resolution", "Width"), v.Int("Resolution", "Height"), Xml.Double(v.Text("Framerate"))));
        }
        return list;
    }

    /// <summary>Media ver10 <c>GetProfilesResponse</c> or Media2 ver20 <c>GetProfilesResponse</c>.</summary>
    public static IReadOnlyList<OnvifProfile> ParseProfiles(XElement body)
    {
        if (body.Name == Ns.Tr2 + "GetProfilesResponse")
        {
            return ParseProfiles2(body);
        }
        var r = SoapEnvelope.Expect(body, Ns.Trt + "GetProfilesResponse", "GetProfiles");
        var list = new List<OnvifProfile>();
        foreach (var p in r.Children("Profiles"))
        {
            var token = p.Attr("token");
            if (token is null)
            {
                continue;
            }
            var vsc = p.Child("VideoSourceConfiguration");
            var vec = p.Child("VideoEncoderConfiguration");
            list.Add(new OnvifProfile(
                token,
                p.Text("Name"),
                vsc.Text("SourceToken"),
                vsc.Attr("token"),
                vec.Text("Encoding"),
                vec.Int("Resolution", "Width"),
                vec.Int("Resolution", "Height"),
                p.Child("PTZConfiguration").Attr("token"),
                p.Path("Extension", "AudioOutputConfiguration") is not null || p.Child("AudioOutputConfiguration") is not null));
        }
        return list;
    }

    /// <summary>Media2 (ONVIF Media2 spec §5.2): configurations sit under <c>Configurations</c>.</summary>
    private static IReadOnlyList<OnvifProfile> ParseProfiles2(XElement r)
    {
        var list = new List<OnvifProfile>();
        foreach (var p in r.Children("Profiles"))
        {
            var token = p.Attr("token");
            if (token is null)
            {
                continue;
            }
            var c = p.Child("Configurations");
            var vs = c.Child("VideoSource");
            var ve = c.Child("VideoEncoder");
            list.Add(new OnvifProfile(
                token,
                p.Text("Name"),
                vs.Text("SourceToken"),
                vs.Attr("token"),
                ve.Text("Encoding"),
                ve.Int("Resolution", "Width"),
                ve.Int("Resolution", "Height"),
                c.Child("PTZ").Attr("token"),
                c.Child("AudioOutput") is not null));
        }
        return list;
    }

    public static Uri ParseStreamUri(XElement body)
    {
        string? text;
        if (body.Name == Ns.Tr2 + "GetStreamUriResponse")
        {
            text = body.Text("Uri");
        }
        else
        {
            var r = SoapEnvelope.Expect(body, Ns.Trt + "GetStreamUriResponse", "GetStreamUri");
            text = r.Text("MediaUri", "Uri");
        }
        return Xml.AbsoluteUri(text) ?? throw new DeviceException(DeviceErrorKind.Failed, $"GetStreamUri: the device returned no usable absolute URI (\"{text}\").");
    }

    /// <summary>
    /// Media ver10 <c>GetSnapshotUriResponse/MediaUri/Uri</c> (Media spec §5.16) or Media2 <c>GetSnapshotUriResponse/Uri</c>:
    /// the HTTP(S) address of the profile's JPEG. Anything but an absolute http(s) URI is the device's failure.
    /// </summary>
    public static Uri ParseSnapshotUri(XElement body)
    {
        string? text;
        if (body.Name == Ns.Tr2 + "GetSnapshotUriResponse")
        {
            text = body.Text("Uri");
        }
        else
        {
            var r = SoapEnvelope.Expect(body, Ns.Trt + "GetSnapshotUriResponse", "GetSnapshotUri");
            text = r.Text("MediaUri", "Uri");
        }
        var uri = Xml.AbsoluteUri(text);
        if (uri is null || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new DeviceException(DeviceErrorKind.Failed, "GetSnapshotUri: the device returned no usable http(s) URI.");
        }
        return uri;
    }

    public static IReadOnlyList<string> ParseAudioOutputConfigurations(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Trt + "GetAudioOutputConfigurationsResponse", "GetAudioOutputConfigurations");
        return [.. r.Children("Configurations").Select(c => c.Attr("token")).OfType<string>()];
    }
}
