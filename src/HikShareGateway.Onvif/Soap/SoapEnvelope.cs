using System.Text;
using System.Xml;
using System.Xml.Linq;
using HikShareGateway.Core.Devices;

namespace HikShareGateway.Onvif.Soap;

/// <summary>
/// Pure SOAP 1.2 envelope reading and writing: no I/O. <see cref="ReadBody(ReadOnlySpan{byte}, string)"/> turns a response
/// into the first element of <c>Body</c> or throws a <see cref="DeviceException"/> with a clear message (fault,
/// malformed XML, not an envelope).
/// </summary>
public static class SoapEnvelope
{
    private static readonly XmlReaderSettings ReaderSettings = new()
    {
        // Device responses are untrusted input: no DTDs (billion laughs), no external entities.
        DtdProcessing = DtdProcessing.Prohibit,
        XmlResolver = null,
        IgnoreComments = true,
        IgnoreProcessingInstructions = true,
        MaxCharactersInDocument = 16 * 1024 * 1024,
        CloseInput = true,
    };

    /// <summary>The first child element of the SOAP Body; a Fault becomes a <see cref="DeviceException"/>.</summary>
    /// <param name="operation">Names the call in error messages (e.g. <c>GetProfiles</c>).</param>
    public static XElement ReadBody(ReadOnlySpan<byte> response, string operation)
    {
        var doc = Load(response, operation);
        return BodyOf(doc, operation);
    }

    public static XElement ReadBody(XmlReader reader, string operation)
    {
        XDocument doc;
        try
        {
            doc = XDocument.Load(reader);
        }
        catch (XmlException e)
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: the device's response is not well-formed XML (line {e.LineNumber}, position {e.LinePosition}): {e.Message}", e);
        }
        return BodyOf(doc, operation);
    }

    /// <summary>The whole envelope (header included), for callers that need headers (WS-Discovery).</summary>
    public static XDocument Load(ReadOnlySpan<byte> response, string operation)
    {
        if (response.IsEmpty)
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: the device sent an empty response.");
        }
        try
        {
            using var stream = new MemoryStream(response.ToArray(), writable: false);
            using var reader = XmlReader.Create(stream, ReaderSettings);
            return XDocument.Load(reader);
        }
        catch (XmlException e)
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: the device's response is not well-formed XML (line {e.LineNumber}, position {e.LinePosition}): {e.Message}", e);
        }
    }

    /// <summary>Reads a fault if the body holds one (pure; for tests and for the client).</summary>
    public static SoapFault? TryReadFault(XElement bodyChild)
    {
        if (bodyChild.Name.LocalName != "Fault" || (bodyChild.Name.Namespace != Ns.Soap12 && bodyChild.Name.Namespace != Ns.Soap11))
        {
            return null;
        }
        var ns = bodyChild.Name.Namespace;
        if (ns == Ns.Soap11)
        {
            // SOAP 1.1 faults: faultcode / faultstring, unqualified.
            return new SoapFault(bodyChild.Element("faultcode")?.Value.Trim() ?? "", [], bodyChild.Element("faultstring")?.Value.Trim() ?? "");
        }
        var code = bodyChild.Element(ns + "Code");
        var value = code?.Element(ns + "Value")?.Value.Trim() ?? "";
        var subcodes = new List<string>();
        var sub = code?.Element(ns + "Subcode");
        while (sub is not null && subcodes.Count < 8)
        {
            var v = sub.Element(ns + "Value")?.Value.Trim();
            if (!string.IsNullOrEmpty(v))
            {
                subcodes.Add(v);
            }
            sub = sub.Element(ns + "Subcode");
        }
        var reason = bodyChild.Element(ns + "Reason")?.Elements(ns + "Text").Select(t => t.Value.Trim()).FirstOrDefault(t => t.Length > 0) ?? "";
        if (reason.Length == 0)
        {
            // Some devices leave Reason empty and explain in Detail (ONVIF ter:Fault/ter:Reason or a bare Text).
            reason = bodyChild.Element(ns + "Detail")?.Descendants().Where(d => !d.HasElements).Select(d => d.Value.Trim()).FirstOrDefault(t => t.Length > 0) ?? "";
        }
        return new SoapFault(value, subcodes, reason);
    }

    private static XElement BodyOf(XDocument doc, string operation)
    {
        var root = doc.Root;
        if (root is null || root.Name.LocalName != "Envelope" || (root.Name.Namespace != Ns.Soap12 && root.Name.Namespace != Ns.Soap11))
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: the device's response is not a SOAP envelope (root element {root?.Name.ToString() ?? "(none)"}).");
        }
        var body = root.Element(root.Name.Namespace + "Body")
            ?? throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: the device's SOAP envelope has no Body.");
        var first = body.Elements().FirstOrDefault()
            ?? throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: the device's SOAP Body is empty.");
        var fault = TryReadFault(first);
        if (fault is not null)
        {
            throw fault.ToException(operation);
        }
        return first;
    }

    /// <summary>Checks the body element is the expected response (namespace and name); a clear error otherwise.</summary>
    public static XElement Expect(XElement body, XName expected, string operation)
    {
        if (body.Name != expected)
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"{operation}: expected {{{expected.NamespaceName}}}{expected.LocalName} in the response, got {{{body.Name.NamespaceName}}}{body.Name.LocalName}.");
        }
        return body;
    }

    /// <summary>Builds a SOAP 1.2 request. <paramref name="headers"/> go into Header (WS-Security, WS-Addressing, reference parameters).</summary>
    public static byte[] Build(XElement bodyContent, IEnumerable<XElement>? headers = null)
    {
        var envelope = new XElement(Ns.Soap12 + "Envelope",
            new XAttribute(XNamespace.Xmlns + "s", Ns.Soap12.NamespaceName),
            new XElement(Ns.Soap12 + "Header", headers ?? []),
            new XElement(Ns.Soap12 + "Body", bodyContent));
        var settings = new XmlWriterSettings { Encoding = new UTF8Encoding(false), OmitXmlDeclaration = false, Indent = false };
        using var ms = new MemoryStream();
        using (var w = XmlWriter.Create(ms, settings))
        {
            envelope.WriteTo(w);
        }
        return ms.ToArray();
    }
}
