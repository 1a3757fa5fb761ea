using System.Text;
using System.Xml;
using System.Xml.Linq;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;

namespace HikShareGateway.Onvif.Discovery;

/// <summary>A device endpoint from a ProbeMatch or Hello (WS-Discovery 2005/04 §4.3, §5.3; ONVIF Core §7.3).</summary>
/// <param name="Address">The endpoint reference address, normally <c>urn:uuid:…</c>; stable across IP changes.</param>
public sealed record DiscoveredEndpoint(string Address, IReadOnlyList<string> Types, IReadOnlyList<string> RawScopes, IReadOnlyList<Uri> XAddrs, long MetadataVersion)
{
    public OnvifScopes Scopes { get; } = OnvifScopes.Parse(RawScopes);

    /// <summary>The address to reach the device service at: the first IPv4 XAddr, else the first one.</summary>
    public Uri? PreferredXAddr => XAddrs.FirstOrDefault(u => u.HostNameType == UriHostNameType.IPv4) ?? XAddrs.FirstOrDefault();

    public bool IsNetworkVideoTransmitter => Types.Any(t => t.EndsWith("NetworkVideoTransmitter", StringComparison.Ordinal));
}

public enum DiscoveryMessageKind { Probe, ProbeMatches, Hello, Bye, Other }

/// <param name="RelatesTo">For ProbeMatches: the MessageID of the probe answered.</param>
public sealed record DiscoveryMessage(DiscoveryMessageKind Kind, string? MessageId, string? RelatesTo, IReadOnlyList<DiscoveredEndpoint> Endpoints, IReadOnlyList<string> ProbeTypes);

/// <summary>Pure building and parsing of WS-Discovery SOAP-over-UDP messages.</summary>
public static class WsDiscoveryMessages
{
    public const string ProbeAction = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe";
    public const string ProbeMatchesAction = "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches";
    public const string HelloAction = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Hello";
    public const string ByeAction = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Bye";
    public const string DiscoveryTo = "urn:schemas-xmlsoap-org:ws:2005:04:discovery";
    public const string Anonymous = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

    /// <summary>A Probe for ONVIF network video transmitters (<c>dn:NetworkVideoTransmitter</c>).</summary>
    public static byte[] Probe(string messageId) => Serialize(
        Envelope(ProbeAction, messageId, null, DiscoveryTo,
            new XElement(Ns.WsDiscovery + "Probe", new XElement(Ns.WsDiscovery + "Types", "dn:NetworkVideoTransmitter"))),
        ("dn", Ns.Dn));

    public static byte[] ProbeMatches(string messageId, string relatesTo, DiscoveredEndpoint endpoint) => Serialize(
        Envelope(ProbeMatchesAction, messageId, relatesTo, Anonymous,
            new XElement(Ns.WsDiscovery + "ProbeMatches", new XElement(Ns.WsDiscovery + "ProbeMatch", EndpointContent(endpoint)))),
        ("dn", Ns.Dn), ("tds", Ns.Tds));

    public static byte[] Hello(string messageId, DiscoveredEndpoint endpoint) => Serialize(
        Envelope(HelloAction, messageId, null, DiscoveryTo, new XElement(Ns.WsDiscovery + "Hello", EndpointContent(endpoint))),
        ("dn", Ns.Dn), ("tds", Ns.Tds));

    public static byte[] Bye(string messageId, string endpointAddress) => Serialize(
        Envelope(ByeAction, messageId, null, DiscoveryTo,
            new XElement(Ns.WsDiscovery + "Bye", new XElement(Ns.Wsa2004 + "EndpointReference", new XElement(Ns.Wsa2004 + "Address", endpointAddress)))));

    /// <summary>Parses one datagram. Not WS-Discovery, or malformed → a DeviceException (the caller logs and drops it).</summary>
    public static DiscoveryMessage Parse(ReadOnlySpan<byte> datagram)
    {
        var doc = SoapEnvelope.Load(datagram, "WS-Discovery");
        var root = doc.Root!;
        var envNs = root.Name.Namespace;
        var header = root.Element(envNs + "Header");
        var body = root.Element(envNs + "Body")?.Elements().FirstOrDefault()
            ?? throw new DeviceException(DeviceErrorKind.Failed, "WS-Discovery: the message has no Body element.");
        var messageId = header.Text("MessageID");
        var relatesTo = header.Text("RelatesTo");
        if (body.Name.Namespace != Ns.WsDiscovery)
        {
            return new DiscoveryMessage(DiscoveryMessageKind.Other, messageId, relatesTo, [], []);
        }
        switch (body.Name.LocalName)
        {
            case "Probe":
                return new DiscoveryMessage(DiscoveryMessageKind.Probe, messageId, relatesTo, [], QNames(body.Child("Types")));
            case "ProbeMatches":
                return new DiscoveryMessage(DiscoveryMessageKind.ProbeMatches, messageId, relatesTo,
                    [.. body.Children("ProbeMatch").Select(ReadEndpoint).OfType<DiscoveredEndpoint>()], []);
            case "Hello":
                return new DiscoveryMessage(DiscoveryMessageKind.Hello, messageId, relatesTo, ReadEndpoint(body) is { } h ? [h] : [], []);
            case "Bye":
                return new DiscoveryMessage(DiscoveryMessageKind.Bye, messageId, relatesTo, ReadEndpoint(body) is { } b ? [b] : [], []);
            default:
                return new DiscoveryMessage(DiscoveryMessageKind.Other, messageId, relatesTo, [], []);
        }
    }

    private static DiscoveredEndpoint? ReadEndpoint(XElement e)
    {
        var address = e.Text("EndpointReference", "Address");
        if (address is null)
        {
            return null;
        }
        var types = QNames(e.Child("Types"));
        var scopes = Split(e.Text("Scopes"));
        var xaddrs = Split(e.Text("XAddrs")).Select(Xml.AbsoluteUri).OfType<Uri>().ToList();
        long.TryParse(e.Text("MetadataVersion"), out var version);
        return new DiscoveredEndpoint(address, types, scopes, xaddrs, version);
    }

    /// <summary>Types are QNames (<c>dn:NetworkVideoTransmitter</c>); resolved to <c>{namespace}local</c> when the prefix is declared.</summary>
    private static IReadOnlyList<string> QNames(XElement? e)
    {
        if (e is null)
        {
            return [];
        }
        var result = new List<string>();
        foreach (var q in Split(e.Value))
        {
            var colon = q.IndexOf(':');
            var ns = colon > 0 ? e.GetNamespaceOfPrefix(q[..colon]) : null;
            result.Add(ns is null ? q : $"{{{ns.NamespaceName}}}{q[(colon + 1)..]}");
        }
        return result;
    }

    private static string[] Split(string? s) => s is null ? [] : s.Split([' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries);

    private static IEnumerable<XElement> EndpointContent(DiscoveredEndpoint endpoint)
    {
        yield return new XElement(Ns.Wsa2004 + "EndpointReference", new XElement(Ns.Wsa2004 + "Address", endpoint.Address));
        yield return new XElement(Ns.WsDiscovery + "Types", string.Join(' ', endpoint.Types));
        yield return new XElement(Ns.WsDiscovery + "Scopes", string.Join(' ', endpoint.RawScopes));
        yield return new XElement(Ns.WsDiscovery + "XAddrs", string.Join(' ', endpoint.XAddrs.Select(x => x.OriginalString)));
        yield return new XElement(Ns.WsDiscovery + "MetadataVersion", endpoint.MetadataVersion);
    }

    private static XElement Envelope(string action, string messageId, string? relatesTo, string to, XElement body) =>
        new(Ns.Soap12 + "Envelope",
            new XAttribute(XNamespace.Xmlns + "s", Ns.Soap12.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "a", Ns.Wsa2004.NamespaceName),
            new XAttribute(XNamespace.Xmlns + "d", Ns.WsDiscovery.NamespaceName),
            new XElement(Ns.Soap12 + "Header",
                new XElement(Ns.Wsa2004 + "Action", new XAttribute(Ns.Soap12 + "mustUnderstand", "1"), action),
                new XElement(Ns.Wsa2004 + "MessageID", messageId),
                relatesTo is null ? null : new XElement(Ns.Wsa2004 + "RelatesTo", relatesTo),
                relatesTo is null ? new XElement(Ns.Wsa2004 + "ReplyTo", new XElement(Ns.Wsa2004 + "Address", Anonymous)) : null,
                new XElement(Ns.Wsa2004 + "To", new XAttribute(Ns.Soap12 + "mustUnderstand", "1"), to)),
            new XElement(Ns.Soap12 + "Body", body));

    private static byte[] Serialize(XElement envelope, params (string Prefix, XNamespace Ns)[] extra)
    {
        foreach (var (p, n) in extra)
        {
            envelope.SetAttributeValue(XNamespace.Xmlns + p, n.NamespaceName);
        }
        using var ms = new MemoryStream();
        using (var w = XmlWriter.Create(ms, new XmlWriterSettings { Encoding = new UTF8Encoding(false) }))
        {
            envelope.WriteTo(w);
        }
        return ms.ToArray();
    }
}
