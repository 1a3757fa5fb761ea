using System.Xml.Linq;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Soap;

namespace HikShareGateway.Onvif.Parsers;

/// <param name="Address">The subscription manager / pull point address, as the device wrote it.</param>
/// <param name="ReferenceParameters">WS-Addressing reference parameters to echo as SOAP headers (Axis uses them).</param>
public sealed record PullPointSubscription(Uri Address, IReadOnlyList<XElement> ReferenceParameters, DateTimeOffset? CurrentTime, DateTimeOffset? TerminationTime);

/// <param name="Topic">Normalised to the <c>tns1:</c> prefix for ONVIF topics (<c>tns1:VideoSource/MotionAlarm</c>).</param>
public sealed record NotificationMessage(
    string Topic,
    DateTimeOffset? UtcTime,
    string? PropertyOperation,
    IReadOnlyList<KeyValuePair<string, string>> Source,
    IReadOnlyList<KeyValuePair<string, string>> Data)
{
    public string? SourceItem(string name) => Find(Source, name);
    public string? DataItem(string name) => Find(Data, name);

    private static string? Find(IReadOnlyList<KeyValuePair<string, string>> items, string name)
    {
        foreach (var kv in items)
        {
            if (kv.Key == name)
            {
                return kv.Value;
            }
        }
        return null;
    }
}

public sealed record RenewResult(DateTimeOffset? CurrentTime, DateTimeOffset? TerminationTime);

public sealed record PullMessagesResult(DateTimeOffset? CurrentTime, DateTimeOffset? TerminationTime, IReadOnlyList<NotificationMessage> Messages);

/// <summary>Pure parsers of the Event service (ver10/events/wsdl, WS-BaseNotification) responses.</summary>
public static class EventParsers
{
    public const string OnvifTopicsNamespace = "http://www.onvif.org/ver10/topics";

    public static PullPointSubscription ParseCreatePullPointSubscription(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Tev + "CreatePullPointSubscriptionResponse", "CreatePullPointSubscription");
        var reference = r.Child("SubscriptionReference");
        var address = Xml.AbsoluteUri(reference.Text("Address"))
            ?? throw new DeviceException(DeviceErrorKind.Failed, "CreatePullPointSubscription: the device returned no subscription address.");
        var parameters = reference.Child("ReferenceParameters")?.Elements().Select(e => new XElement(e)).ToList() ?? [];
        return new PullPointSubscription(address, parameters, Xml.Time(r.Text("CurrentTime")), Xml.Time(r.Text("TerminationTime")));
    }

    public static PullMessagesResult ParsePullMessages(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Tev + "PullMessagesResponse", "PullMessages");
        var messages = new List<NotificationMessage>();
        foreach (var n in r.Children("NotificationMessage"))
        {
            var topicElement = n.Child("Topic");
            var m = n.Path("Message", "Message");
            if (topicElement is null || m is null)
            {
                continue;
            }
            messages.Add(new NotificationMessage(
                NormaliseTopic(topicElement),
                Xml.Time(m.Attr("UtcTime")),
                m.Attr("PropertyOperation"),
                Items(m.Child("Source")),
                Items(m.Child("Data"))));
        }
        return new PullMessagesResult(Xml.Time(r.Text("CurrentTime")), Xml.Time(r.Text("TerminationTime")), messages);
    }

    /// <summary>Renew answers with the new TerminationTime.</summary>
    /// <summary>The renewed subscription's times, both on the device's clock (CurrentTime is optional in WS-BaseNotification).</summary>
    public static RenewResult ParseRenew(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Wsnt + "RenewResponse", "Renew");
        return new RenewResult(Xml.Time(r.Text("CurrentTime")), Xml.Time(r.Text("TerminationTime")));
    }

    /// <summary>The topics a device announces (GetEventProperties TopicSet leaves, marked <c>wstop:topic="true"</c>).</summary>
    public static IReadOnlyList<string> ParseEventTopics(XElement body)
    {
        var r = SoapEnvelope.Expect(body, Ns.Tev + "GetEventPropertiesResponse", "GetEventProperties");
        var set = r.Child("TopicSet");
        var topics = new List<string>();
        if (set is null)
        {
            return topics;
        }
        foreach (var root in set.Elements())
        {
            Walk(root, Prefix(root) + root.Name.LocalName, topics);
        }
        return topics;

        static void Walk(XElement e, string path, List<string> topics)
        {
            if (e.Attributes().Any(a => a.Name.LocalName == "topic" && a.Value == "true"))
            {
                topics.Add(path);
            }
            foreach (var c in e.Elements())
            {
                if (c.Name.LocalName is "MessageDescription" or "Documentation")
                {
                    continue;
                }
                Walk(c, path + "/" + c.Name.LocalName, topics);
            }
        }

        static string Prefix(XElement e) =>
            e.Name.NamespaceName == OnvifTopicsNamespace ? "tns1:" : (e.GetPrefixOfNamespace(e.Name.Namespace) is { } p ? p + ":" : "");
    }

    /// <summary>
    /// A ConcreteSet topic expression <c>prefix:A/B/C</c>: the prefix is resolved against the Topic element's in-scope
    /// namespaces, and ONVIF's own topic namespace is always written <c>tns1:</c> whatever prefix the device chose.
    /// </summary>
    public static string NormaliseTopic(XElement topic)
    {
        var text = topic.Value.Trim();
        var colon = text.IndexOf(':');
        if (colon <= 0)
        {
            return text;
        }
        var ns = topic.GetNamespaceOfPrefix(text[..colon]);
        return ns is not null && ns.NamespaceName == OnvifTopicsNamespace ? "tns1:" + text[(colon + 1)..] : text;
    }

    private static IReadOnlyList<KeyValuePair<string, string>> Items(XElement? e)
    {
        if (e is null)
        {
            return [];
        }
        return [.. e.Children("SimpleItem")
            .Where(i => i.Attr("Name") is not null)
            .Select(i => new KeyValuePair<string, string>(i.Attr("Name")!, i.Attribute("Value")?.Value ?? ""))];
    }
}
