using System.Xml.Linq;
using HikShareGateway.Onvif.Soap;

namespace HikShareGateway.Onvif.Parsers;

public sealed record OnvifPreset(string Token, string? Name, double? Pan, double? Tilt, double? Zoom);

/// <summary>Pure parsers of PTZ (ver20/ptz/wsdl) responses.</summary>
public static class PtzParsers
{
    public static IReadOnlyList<OnvifPreset> ParsePresets(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Tptz + "GetPresetsResponse", "GetPresets");
        var list = new List<OnvifPreset>();
        foreach (var p in r.Children("Preset"))
        {
            var token = p.Attr("token");
            if (token is null)
            {
                continue;
            }
            var pos = p.Child("PTZPosition");
            list.Add(new OnvifPreset(token, p.Text("Name"),
                Xml.Double(pos.Child("PanTilt").Attr("x")), Xml.Double(pos.Child("PanTilt").Attr("y")), Xml.Double(pos.Child("Zoom").Attr("x"))));
        }
        return list;
    }

    /// <summary>Move/Stop/Goto answer with an empty <c>…Response</c>; anything else is a clear error.</summary>
    public static void ParseEmpty(XElement body, string operation) =>
        SoapEnvelope.Expect(body, Ns.Tptz + (operation + "Response"), operation);
}
