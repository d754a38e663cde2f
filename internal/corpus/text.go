package corpus

import (
	"math/rand/v2"
	"strconv"
)

// Message bodies: what a salon, a shop and a clinic hear from customers on
// WhatsApp, mostly in Arabic, sometimes mixed with English and emoji.
var userPhrases = []string{
	"السلام عليكم، أبغى أحجز موعد يوم الخميس الساعة ٤ العصر",
	"كم سعر الصبغة مع القص؟",
	"هل عندكم توصيل لحي النرجس؟ الطلب رقم 48213",
	"ممكن تغيّر الموعد لبكرة بدال اليوم؟",
	"مرحبا، وصلني الطلب ناقص قطعة واحدة",
	"أبي أعرف ساعات الدوام في رمضان",
	"شكراً جزيلاً على الخدمة الممتازة 🌹",
	"عندي استفسار عن الفاتورة الأخيرة، المبلغ مختلف",
	"Can you send me the price list please?",
	"أرسل لي الموقع على الخريطة لو سمحت",
	"هل يوجد خصم للطلاب أو العائلات؟",
	"الموعد اللي حجزته أمس ما وصلني تأكيده",
	"أحتاج فاتورة ضريبية باسم الشركة",
	"ابغى الغي الحجز حق السبت",
	"وش أفضل باقة تنصحني فيها؟",
	"الدفع عن طريق مدى متاح؟",
	"أقدر أطلب نفس الطلب السابق؟",
	"لو سمحت ابغى اتكلم مع موظف",
	"متى يوصل الطلب تقريباً؟ صار له يومين",
	"ok thanks 👍",
	"صباح الخير، هل الفرع مفتوح اليوم؟",
	"أبغى أضيف شخص ثاني للحجز",
	"كم مدة الجلسة؟",
	"المنتج وصل مكسور، وش الحل؟ 😔",
}

var assistantPhrases = []string{
	"وعليكم السلام ورحمة الله، أهلاً وسهلاً! يسعدني أساعدك.",
	"تم حجز موعدك يوم الخميس الساعة ٤:٠٠ مساءً، وبيوصلك تذكير قبلها بساعة.",
	"سعر القص مع الصبغة يبدأ من ٢٥٠ ريال حسب طول الشعر.",
	"نعم، التوصيل متاح لحي النرجس خلال ٢٤ ساعة والرسوم ١٥ ريال.",
	"نعتذر عن الخطأ! راح نرسل القطعة الناقصة اليوم بدون أي رسوم إضافية.",
	"ساعات الدوام من ١٠ صباحاً إلى ١٢ منتصف الليل طوال أيام الأسبوع.",
	"الفاتورة الأخيرة تشمل ضريبة القيمة المضافة ١٥٪، وهذا سبب الفرق.",
	"Here is our current price list. Let me know which service you are interested in.",
	"هذا رابط الموقع على خرائط قوقل، ونتشرف بزيارتك.",
	"يوجد خصم ١٠٪ للطلاب عند إبراز البطاقة الجامعية.",
	"تم إلغاء حجز السبت، وإذا حبيت نحجز لك موعد ثاني أنا حاضر.",
	"أنصحك بالباقة الذهبية لأنها تشمل جلستين إضافيتين بنفس السعر تقريباً.",
	"نعم، الدفع عن طريق مدى وأبل باي والتحويل البنكي متاح.",
	"جاري تحويلك لأحد موظفي خدمة العملاء، لحظات من فضلك.",
	"الطلب حالياً مع شركة الشحن ومتوقع يوصلك بكرة قبل الساعة ٦ مساءً.",
	"مدة الجلسة حوالي ٤٥ دقيقة.",
	"نأسف جداً لما حصل، أرسل لنا صورة المنتج ونستبدله لك فوراً.",
}

var toolNames = []string{"web_search", "read", "exec", "session_status", "memory_search", "calendar_lookup", "orders_lookup", "browser"}

var toolResultPhrases = []string{
	"Order #48213 status: shipped via SMSA, tracking SA7788123344, ETA 2026-11-05.",
	"موعد متاح: الخميس ١٦:٠٠، الخميس ١٧:٣٠، الجمعة ١٩:٠٠، السبت ١١:٠٠",
	"{\"customer\":\"existing\",\"visits\":12,\"last_visit\":\"2026-10-14\",\"tier\":\"gold\"}",
	"Search results: 1. Price list 2026 — services and packages. 2. Branch hours and Ramadan schedule. 3. Delivery zones in Riyadh.",
	"السجل: الفاتورة INV-2026-1182 بمبلغ ٣٤٥ ريال شاملة الضريبة، مدفوعة عن طريق مدى.",
	"memory: customer prefers afternoon appointments; allergic to ammonia-based dyes; speaks Arabic.",
	"exit code 0\nstdout: report generated (42 rows)\n",
	"Page title: خدمات الصالون والأسعار\nقص الشعر ٨٠ ريال\nصبغة كاملة ٢٥٠ ريال\nبروتين ٤٠٠ ريال\nمناكير وبدكير ١٢٠ ريال",
}

var systemNotes = []string{
	"Read HEARTBEAT.md if it exists (workspace context). Follow it strictly. If nothing needs attention, reply HEARTBEAT_OK.",
	"Summarise today's bookings and list anything that needs my attention.",
	"Check the orders queue and tell me which ones are late.",
	"draft a reply to the supplier about the delayed shipment",
}

// text builds a body of roughly n bytes (UTF-8) from phrases.
func text(r *rand.Rand, phrases []string, n int) string {
	b := make([]byte, 0, n+128)
	for len(b) < n {
		if len(b) > 0 {
			if r.IntN(6) == 0 {
				b = append(b, '\n')
			} else {
				b = append(b, ' ')
			}
		}
		b = append(b, phrases[r.IntN(len(phrases))]...)
	}
	return string(b)
}

// hexID returns n lower-case hex digits.
func hexID(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

// uuid returns a random version 4 UUID.
func uuid(r *rand.Rand) string {
	h := hexID(r, 32)
	v := []byte(h)
	v[12] = '4'
	v[16] = "89ab"[r.IntN(4)]
	return string(v[0:8]) + "-" + string(v[8:12]) + "-" + string(v[12:16]) + "-" + string(v[16:20]) + "-" + string(v[20:32])
}

// appendJSONString appends s as a JSON string the way JSON.stringify writes
// it: quotes, backslashes and control characters escaped, UTF-8 kept raw.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// appendJSNumber appends f the way JavaScript prints a number: the shortest
// text that reads back as the same float64, exponent form below 1e-6.
func appendJSNumber(b []byte, f float64) []byte {
	if f == 0 {
		return append(b, '0')
	}
	if f < 1e-6 {
		s := strconv.FormatFloat(f, 'e', -1, 64) // 5e-07
		for i := 0; i+2 < len(s); i++ {
			if s[i] == 'e' && s[i+1] == '-' && s[i+2] == '0' {
				s = s[:i+2] + s[i+3:]
				break
			}
		}
		return append(b, s...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}
