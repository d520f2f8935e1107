# ruff: noqa: E501  (a data table: some link templates are longer than a line)
"""Every Cliniko collection the sandbox serves, as our own compact table.

Derived once by reading Cliniko's OpenAPI spec (https://docs.api.cliniko.com/_spec/openapi.yaml):
the list path, the records key, the `q[]` filters with their types, and each record schema's
properties reduced to a short "kind" code. The runtime never reads the spec;
`tests/test_contract.py` checks this table against it.

Field kinds (a trailing `?` means nullable):
  id             the record's own id (string holding an int64)
  self           `links.self` -> <base>/<collection>/<id>;  `self:<template>` uses row fields
  ref:<plural>   link object to one related record, stored in the row as `<field>_id`;
                 left out of the JSON when unset (see README: "unset links")
  sub:<template> link object to a related collection, built from the record's own id
  filter:<c>:<f> link object to <base>/<c>?q[]=<f>:=<own id> (URL-encoded)
  const:<path>   link object with a fixed path
  str dt date dec int int64 bool num uri ipv4   scalars (dt = UTC date-time, dec = decimal string)
  enum:<a|b>  ienum:<1|2>                      string / integer enums
  ids strs phones arr obj                      arrays of int64 strings, strings, phone numbers,
                                               other arrays, nested objects
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Resource:
    """One collection: where it lives, how it filters, what its records hold."""

    name: str  # collection name (also the records key of the list envelope)
    path: str  # list path under /v1
    filters: dict[str, str]  # q[] field -> filter type (int64 integer string date date-time ...)
    variants: dict[str, dict[str, str]]  # spec schema name -> {field: kind}; >1 for anyOf schemas
    records_key: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> dict[str, str]:
        """Field table of the first (default) variant."""
        return next(iter(self.variants.values()))

    def has_filter(self, name: str) -> bool:
        """Whether Cliniko accepts `q[]` on `name` for this collection."""
        return name in self.filters


def _f(spec: str) -> dict[str, str]:
    """Parse 'a:int64, b:ienum?:1|2' into {'a': 'int64', 'b': 'ienum?:1|2'}."""
    pairs = (item.strip().split(":", 1) for item in spec.split(",") if item.strip())
    return {name: kind for name, kind in pairs}


RESOURCES: dict[str, Resource] = {}


def _add(name: str, path: str, filters: dict[str, str], **variants: dict[str, str]) -> None:
    RESOURCES[path.strip("/")] = Resource(name, path, filters, variants, records_key=name)


_add(
    "appointment_types",
    "/appointment_types",
    _f(
        "appointment_confirmation_template_ids:array, "
        "appointment_follow_up_template_ids:array, appointment_reminder_template_ids:array, "
        "archived_at:date-time, category:string, created_at:date-time, id:int64, "
        "online_payments_mode:string, show_in_online_bookings:boolean, updated_at:date-time,"
    ),
    AppointmentType=_f(
        "add_deposit_to_account_credit:bool?, appointment_confirmation_template_ids:ids?, "
        "appointment_follow_up_template_ids:ids?, appointment_reminder_template_ids:ids?, "
        "appointment_type_billable_items:filter:appointment_type_billable_items:appointment_type_id, "
        "appointment_type_products:filter:appointment_type_products:appointment_type_id, "
        "archived_at:dt?, billable_item:ref:billable_items, category:str?, color:str, "
        "created_at:dt, deposit_price:dec?, description:str?, duration_in_minutes:int, id:id, "
        "links:self, max_attendees:int, name:str, "
        "online_bookings_lead_time_hours:ienum?:0|1|2|4|12|18|24|48|72|168|336|504|672, "
        "online_payments_enabled:bool?, "
        "online_payments_mode:enum?:deposit_required|optional|required, "
        "practitioners:sub:/appointment_types/{id}/practitioners, product:ref:products, "
        "show_in_online_bookings:bool?, telehealth_enabled:bool?, "
        "treatment_note_template:ref:treatment_note_templates, updated_at:dt,"
    ),
)
_add(
    "appointment_type_billable_items",
    "/appointment_type_billable_items",
    _f(
        "appointment_type_id:int64, billable_item_id:int64, created_at:date-time, id:int64, "
        "updated_at:date-time,"
    ),
    AppointmentTypeBillableItem=_f(
        "appointment_type:ref:appointment_types, billable_item:ref:billable_items, "
        "created_at:dt, discount_percentage:dec?, discounted_amount:dec?, id:id, "
        "is_monetary_discount:bool?, links:self, quantity:dec, updated_at:dt,"
    ),
)
_add(
    "appointment_type_products",
    "/appointment_type_products",
    _f(
        "appointment_type_id:int64, created_at:date-time, id:int64, product_id:int64, "
        "updated_at:date-time,"
    ),
    AppointmentTypeProduct=_f(
        "appointment_type:ref:appointment_types, created_at:dt, discount_percentage:dec?, "
        "discounted_amount:dec?, id:id, is_monetary_discount:bool?, links:self, "
        "product:ref:products, quantity:dec, updated_at:dt,"
    ),
)
_add(
    "attendees",
    "/attendees",
    _f(
        "appointment_id:int64, archived_at:date-time, booking_id:int64, "
        "cancelled_at:date-time, created_at:date-time, deleted_at:date-time, id:int64, "
        "patient_case_id:int64, patient_id:int64, updated_at:date-time,"
    ),
    Attendee=_f(
        "archived_at:dt?, arrived:bool?, booking:ref:bookings, booking_ip_address:ipv4?, "
        "cancellation_note:str?, cancellation_reason:int?, "
        "cancellation_reason_description:enum?:Feeling Better|Condition Worse|Sick|COVID-19 related|Away|Other|Work|, "
        "cancellation_url:uri?, cancelled_at:dt?, created_at:dt, deleted_at:dt?, "
        "email_reminder_sent:bool?, id:id, invoice_status:ienum?:10|20|30|40, "
        "invoices:sub:/attendees/{id}/invoices, links:self, notes:str?, "
        "online_booking_policy_accepted:bool?, patient:ref:patients, "
        "patient_case:ref:patient_cases, patient_forms:sub:/attendees/{id}/patient_forms, "
        "sent_email_follow_ups_count:int?, sent_email_reminders_count:int?, "
        "sent_sms_follow_ups_count:int?, sent_sms_reminders_count:int?, "
        "sms_reminder_sent:bool?, telehealth_url:uri?, treatment_note_status:ienum?:10|90, "
        "updated_at:dt,"
    ),
)
_add(
    "availability_blocks",
    "/availability_blocks",
    _f(
        "business_id:int64, created_at:date-time, id:int64, practitioner_id:int64, "
        "starts_at:date-time, updated_at:date-time,"
    ),
    AvailabilityBlock=_f(
        "business:ref:businesses, created_at:dt, ends_at:dt, id:id, links:self, "
        "practitioner:ref:practitioners, repeat_rule:obj?, starts_at:dt, updated_at:dt,"
    ),
)
_add(
    "billable_items",
    "/billable_items",
    _f(
        "archived_at:date-time, created_at:date-time, id:int64, tax_id:int64, updated_at:date-time,"
    ),
    BillableItem=_f(
        "archived_at:dt?, created_at:dt, id:id, item_code:str?, "
        "item_type:enum:Product|Service|Other, links:self, name:str, price:dec, "
        "tax:ref:taxes, updated_at:dt,"
    ),
)
_add(
    "bookings",
    "/bookings",
    _f(
        "appointment_type_id:int64, archived_at:date-time, business_id:int64, "
        "cancelled_at:date-time, created_at:date-time, deleted_at:date-time, "
        "did_not_arrive:boolean, email_reminder_sent:boolean, ends_at:date-time, id:int64, "
        "invoice_status:integer, patient_ids:array, practitioner_id:int64, "
        "repeated_from_id:int64, sms_reminder_sent:boolean, starts_at:date-time, "
        "treatment_note_status:integer, updated_at:date-time,"
    ),
    GroupAppointment=_f(
        "appointment_type:ref:appointment_types, archived_at:dt?, "
        "attendees:sub:/group_appointments/{id}/attendees, business:ref:businesses, "
        "conflicts:sub:/group_appointments/{id}/conflicts, created_at:dt, deleted_at:dt?, "
        "ends_at:dt, id:id, links:self, max_attendees:int, notes:str?, patient_ids:ids?, "
        "practitioner:ref:practitioners, repeat_rule:obj?, "
        "repeated_from:ref:group_appointments, "
        "repeats:filter:group_appointments:repeated_from_id, starts_at:dt, "
        "telehealth_url:uri?, updated_at:dt,"
    ),
    IndividualAppointment=_f(
        "appointment_type:ref:appointment_types, archived_at:dt?, "
        "attendees:sub:/individual_appointments/{id}/attendees, booking_ip_address:ipv4?, "
        "business:ref:businesses, cancellation_note:str?, cancellation_reason:int?, "
        "cancellation_reason_description:enum?:Feeling Better|Condition Worse|Sick|COVID-19 related|Away|Other|Work, "
        "cancelled_at:dt?, conflicts:sub:/individual_appointments/{id}/conflicts, "
        "created_at:dt, deleted_at:dt?, did_not_arrive:bool?, email_reminder_sent:bool?, "
        "ends_at:dt, has_patient_appointment_notes:bool?, id:id, invoice_status:int?, "
        "links:self, notes:str?, online_booking_policy_accepted:bool?, patient:ref:patients, "
        "patient_arrived:bool?, patient_case:ref:patient_cases, patient_name:str?, "
        "practitioner:ref:practitioners, repeat_rule:obj?, "
        "repeated_from:ref:individual_appointments, "
        "repeats:filter:individual_appointments:repeated_from_id, sms_reminder_sent:bool?, "
        "starts_at:dt, telehealth_url:uri?, treatment_note_status:int?, updated_at:dt,"
    ),
    UnavailableBlock=_f(
        "archived_at:dt?, business:ref:businesses, "
        "conflicts:sub:/unavailable_blocks/{id}/conflicts, created_at:dt, deleted_at:dt?, "
        "ends_at:dt, id:id, links:self, notes:str?, practitioner:ref:practitioners, "
        "repeat_rule:obj?, repeated_from:ref:unavailable_blocks, "
        "repeats:filter:unavailable_blocks:repeated_from_id, starts_at:dt, "
        "unavailable_block_type:ref:unavailable_block_types, updated_at:dt,"
    ),
)
_add(
    "businesses",
    "/businesses",
    _f(
        "appointment_type_ids:array, archived_at:date-time, created_at:date-time, "
        "deleted_at:date-time, id:int64, show_in_online_bookings:boolean, "
        "updated_at:date-time,"
    ),
    Business=_f(
        "additional_information:str?, additional_invoice_information:str?, address_1:str?, "
        "address_2:str?, appointment_reminders_enabled:bool?, appointment_type_ids:ids?, "
        "appointments:sub:/businesses/{id}/appointments, archived_at:dt?, business_name:str?, "
        "business_registration_name:str?, business_registration_value:str?, city:str?, "
        "contact_information:str?, country:str?, country_code:str?, created_at:dt, "
        "deleted_at:dt?, display_name:str?, email_reply_to:str?, id:id, label:str?, "
        "links:self, post_code:str?, practitioners:sub:/businesses/{id}/practitioners, "
        "show_in_online_bookings:bool?, state:str?, time_zone:str?, "
        "time_zone_identifier:str?, updated_at:dt, website_address:str?,"
    ),
)
_add(
    "communications",
    "/communications",
    _f(
        "archived_at:date-time, category_code:integer, created_at:date-time, id:int64, "
        "letter_id:int64, patient_id:int64, type_code:integer, updated_at:date-time,"
    ),
    MemoCommunication=_f(
        "archived_at:dt?, category:enum?:Memo, category_code:ienum?:12, confidential:bool?, "
        "content:str?, created_at:dt, direction_code:ienum?:1|2, "
        "direction_description:enum?:Received|Sent, from:str?, id:id, links:self, "
        "patient:ref:patients, to:str?, type:enum?:Email|Other|Phone call|SMS, "
        "type_code:ienum?:1|2|3|4, updated_at:dt,"
    ),
    EmailCommunication=_f(
        "archived_at:dt?, attendee:ref:attendees, booking:ref:bookings, "
        "category:enum?:Account Statement|Account ownership information updated|Appointment Cancellation|Appointment Confirmation|Appointment Follow Up Message|Appointment Reminder|Auth Code|Bulk Email|Cancelled appointment notification|Card automatically updated notification|Card expiring notification|Completed Patient Form|Data export complete notification|Email OTP code|Invoice|Letter|Mailchimp integration disconnected|Memo|New user|Online payment request|Password changed|Patient Form|Patient Reply Forwarded|Patient form renewal|Payment Receipt|Practitioner Appointment Notification|Referred user bonus notification|Referred user signed up|Referring user bonus notification|Reply from Patient|Reply from Practitioner|Reset password instructions|SMS Message|SMS credit purchase failed|SMS credit purchase receipt|SMS credit purchase reminder|SMS credit purchase requires confirmation|Stripe receipt|Subscription initiation alert|Subscription payment failure|Today's appointments for practitioner|Trial ending reminder|Trial payment failure|Unlock instructions|Upcoming appointments|Upcoming yearly payment alert|User email changed|User email confirmation instructions|Xero OAuth error|Xero sync error notification, "
        "category_code:ienum?:1|2|3|4|5|6|7|8|9|10|11|12|13|14|15|16|17|18|19|20|21|22|23|24|25|26|27|28|29|30|31|32|33|34|35|36|37|38|39|40|41|42|43|44|45|46|47|48|49|50, "
        "content:str?, content_subject:str?, created_at:dt, direction_code:ienum?:1|2, "
        "direction_description:enum?:Received|Sent, from:str?, id:id, invoice:ref:invoices, "
        "letter:ref:letters, links:self, patient:ref:patients, payment:ref:payments, to:str?, "
        "type:enum?:Email|Other|Phone call|SMS, type_code:ienum?:1|2|3|4, updated_at:dt,"
    ),
    SmsCommunication=_f(
        "archived_at:dt?, attendee:ref:attendees, booking:ref:bookings, "
        "category:enum?:Account Statement|Account ownership information updated|Appointment Cancellation|Appointment Confirmation|Appointment Follow Up Message|Appointment Reminder|Auth Code|Bulk Email|Cancelled appointment notification|Card automatically updated notification|Card expiring notification|Completed Patient Form|Data export complete notification|Email OTP code|Invoice|Letter|Mailchimp integration disconnected|Memo|New user|Online payment request|Password changed|Patient Form|Patient Reply Forwarded|Patient form renewal|Payment Receipt|Practitioner Appointment Notification|Referred user bonus notification|Referred user signed up|Referring user bonus notification|Reply from Patient|Reply from Practitioner|Reset password instructions|SMS Message|SMS credit purchase failed|SMS credit purchase receipt|SMS credit purchase reminder|SMS credit purchase requires confirmation|Stripe receipt|Subscription initiation alert|Subscription payment failure|Today's appointments for practitioner|Trial ending reminder|Trial payment failure|Unlock instructions|Upcoming appointments|Upcoming yearly payment alert|User email changed|User email confirmation instructions|Xero OAuth error|Xero sync error notification, "
        "category_code:ienum?:1|2|3|4|5|6|7|8|9|10|11|12|13|14|15|16|17|18|19|20|21|22|23|24|25|26|27|28|29|30|31|32|33|34|35|36|37|38|39|40|41|42|43|44|45|46|47|48|49|50, "
        "content:str?, created_at:dt, direction_code:ienum?:1|2, "
        "direction_description:enum?:Received|Sent, from:str?, id:id, invoice:ref:invoices, "
        "letter:ref:letters, links:self, patient:ref:patients, payment:ref:payments, to:str?, "
        "type:enum?:Email|Other|Phone call|SMS, type_code:ienum?:1|2|3|4, updated_at:dt,"
    ),
)
_add(
    "concession_prices",
    "/concession_prices",
    _f(
        "billable_item_id:int64, concession_type_id:int64, created_at:date-time, id:int64, "
        "updated_at:date-time,"
    ),
    ConcessionPrice=_f(
        "billable_item:ref:billable_items, concession_type:ref:concession_types, "
        "created_at:dt, id:id, links:self, price:dec?, updated_at:dt,"
    ),
)
_add(
    "concession_types",
    "/concession_types",
    _f("archived_at:date-time, created_at:date-time, id:int64, updated_at:date-time,"),
    ConcessionType=_f(
        "archived_at:dt?, created_at:dt, id:id, links:self, name:str, updated_at:dt,"
    ),
)
_add(
    "contacts",
    "/contacts",
    _f(
        "archived_at:date-time, company_name:string, created_at:date-time, "
        "deleted_at:date-time, email:string, first_name:string, id:int64, last_name:string, "
        "occupation:string, type_code:integer, updated_at:date-time,"
    ),
    Contact=_f(
        "address_1:str?, address_2:str?, address_3:str?, archived_at:dt?, city:str?, "
        "company_name:str?, country:str?, country_code:str?, created_at:dt, deleted_at:dt?, "
        "doctor_type:enum?:general_practitioner|specialist, email:str?, first_name:str?, "
        "id:id, last_name:str?, links:self, notes:str?, occupation:str?, "
        "phone_numbers:phones?, post_code:str?, preferred_name:str?, provider_number:str?, "
        "state:str?, title:str?, type:enum?:Doctor|3rd Party Payer|Standard, "
        "type_code:ienum?:0|1|2, updated_at:dt,"
    ),
)
_add(
    "daily_availabilities",
    "/daily_availabilities",
    _f(
        "business_id:int64, created_at:date-time, id:int64, practitioner_id:int64, "
        "updated_at:date-time,"
    ),
    DailyAvailability=_f(
        "availabilities:arr?, business:ref:businesses, created_at:dt, "
        "day_of_week:ienum?:0|1|2|3|4|5|6, id:id, links:self, practitioner:ref:practitioners, "
        "time_zone:str?, time_zone_identifier:str?, updated_at:dt,"
    ),
)
_add(
    "group_appointments",
    "/group_appointments",
    _f(
        "appointment_type_id:int64, archived_at:date-time, business_id:int64, "
        "created_at:date-time, deleted_at:date-time, ends_at:date-time, id:int64, "
        "patient_ids:array, practitioner_id:int64, repeated_from_id:int64, "
        "starts_at:date-time, updated_at:date-time,"
    ),
    GroupAppointment=_f(
        "appointment_type:ref:appointment_types, archived_at:dt?, "
        "attendees:sub:/group_appointments/{id}/attendees, business:ref:businesses, "
        "conflicts:sub:/group_appointments/{id}/conflicts, created_at:dt, deleted_at:dt?, "
        "ends_at:dt, id:id, links:self, max_attendees:int, notes:str?, patient_ids:ids?, "
        "practitioner:ref:practitioners, repeat_rule:obj?, "
        "repeated_from:ref:group_appointments, "
        "repeats:filter:group_appointments:repeated_from_id, starts_at:dt, "
        "telehealth_url:uri?, updated_at:dt,"
    ),
)
_add(
    "individual_appointments",
    "/individual_appointments",
    _f(
        "appointment_type_id:int64, archived_at:date-time, business_id:int64, "
        "cancelled_at:date-time, created_at:date-time, deleted_at:date-time, "
        "did_not_arrive:boolean, ends_at:date-time, id:int64, patient_id:int64, "
        "practitioner_id:int64, repeated_from_id:int64, starts_at:date-time, "
        "updated_at:date-time,"
    ),
    IndividualAppointment=_f(
        "appointment_type:ref:appointment_types, archived_at:dt?, "
        "attendees:sub:/individual_appointments/{id}/attendees, booking_ip_address:ipv4?, "
        "business:ref:businesses, cancellation_note:str?, cancellation_reason:int?, "
        "cancellation_reason_description:enum?:Feeling Better|Condition Worse|Sick|COVID-19 related|Away|Other|Work, "
        "cancelled_at:dt?, conflicts:sub:/individual_appointments/{id}/conflicts, "
        "created_at:dt, deleted_at:dt?, did_not_arrive:bool?, email_reminder_sent:bool?, "
        "ends_at:dt, has_patient_appointment_notes:bool?, id:id, invoice_status:int?, "
        "links:self, notes:str?, online_booking_policy_accepted:bool?, patient:ref:patients, "
        "patient_arrived:bool?, patient_case:ref:patient_cases, patient_name:str?, "
        "practitioner:ref:practitioners, repeat_rule:obj?, "
        "repeated_from:ref:individual_appointments, "
        "repeats:filter:individual_appointments:repeated_from_id, sms_reminder_sent:bool?, "
        "starts_at:dt, telehealth_url:uri?, treatment_note_status:int?, updated_at:dt,"
    ),
)
_add(
    "invoices",
    "/invoices",
    _f(
        "appointment_id:int64, archived_at:date-time, attendee_id:int64, business_id:int64, "
        "closed_at:date-time, created_at:date-time, deleted_at:date-time, id:int64, "
        "issue_date:date, number:integer, original_invoice_id:int64, patient_id:int64, "
        "practitioner_id:int64, status:integer, updated_at:date-time,"
    ),
    Invoice=_f(
        "appointment:ref:appointments, archived_at:dt?, attendee:ref:attendees, "
        "business:ref:businesses, calculation_method:ienum?:1|2|3, "
        "calculation_method_description:enum?:Legacy|Tax exclusive|Tax inclusive, "
        "closed_at:dt?, created_at:dt, deleted_at:dt?, discounted_amount:dec?, id:id, "
        "invoice_items:sub:/invoices/{id}/invoice_items, invoice_to:str?, issue_date:date, "
        "links:self, net_amount:dec?, notes:str?, number:int, online_payment_url:uri?, "
        "original_invoice:ref:invoices, patient:ref:patients, patient_extra_information:str?, "
        "practitioner:ref:practitioners, reversed_invoices:filter:invoices:invoice_id, "
        "signature:ref:signatures, status:ienum?:10|20|30|40, "
        "status_description:enum?:Open|Paid|Closed|Open credit, tax_amount:dec?, "
        "total_amount:dec?, updated_at:dt,"
    ),
)
_add(
    "invoice_items",
    "/invoice_items",
    _f(
        "archived_at:date-time, created_at:date-time, deleted_at:date-time, id:int64, "
        "invoice_id:int64, source_item_id:int64, updated_at:date-time,"
    ),
    InvoiceItem=_f(
        "archived_at:dt?, billable_item:ref:billable_items, code:str?, "
        "concession_type_name:str?, created_at:dt, deleted_at:dt?, discount_percentage:dec?, "
        "discounted_amount:dec?, id:id, invoice:ref:invoices, is_monetary_discount:bool?, "
        "links:self, name:str?, net_price:dec?, product:ref:products, quantity:dec, "
        "tax_amount:dec?, tax_name:str?, tax_rate:dec?, total_including_tax:num?, "
        "unit_price:dec, updated_at:dt,"
    ),
)
_add(
    "medical_alerts",
    "/medical_alerts",
    _f(
        "archived_at:date-time, created_at:date-time, deleted_at:date-time, id:int64, "
        "patient_id:int64, updated_at:date-time,"
    ),
    MedicalAlert=_f(
        "archived_at:dt?, created_at:dt, deleted_at:dt?, id:id, links:self, name:str, "
        "patient:ref:patients, updated_at:dt,"
    ),
)
_add(
    "patients",
    "/patients",
    _f(
        "accepted_privacy_policy:boolean, archived_at:date-time, created_at:date-time, "
        "date_of_birth:date, email:string, first_name:string, id:int64, last_name:string, "
        "old_reference_id:string, preferred_first_name:string, updated_at:date-time,"
    ),
    Patient=_f(
        "accepted_email_marketing:bool?, accepted_privacy_policy:bool?, "
        "accepted_sms_marketing:bool?, address_1:str?, address_2:str?, address_3:str?, "
        "appointment_notes:str?, appointments:sub:/patients/{id}/appointments, "
        "archived_at:dt?, attendees:filter:attendees:patient_id, city:str?, "
        "concession_type:ref:concession_types, country:str?, country_code:str?, "
        "created_at:dt, custom_fields:obj?, date_of_birth:date?, deleted_at:dt?, "
        "dva_card_number:str?, email:str?, emergency_contact:str?, first_name:str, "
        "gender:str?, gender_identity:str?, id:id, invoice_default_to:str?, "
        "invoice_email:str?, invoice_extra_information:str?, "
        "invoices:sub:/patients/{id}/invoices, label:str?, last_name:str, "
        "latest_booking:ref:bookings, links:self, "
        "medical_alerts:sub:/patients/{id}/medical_alerts, medicare:str?, "
        "medicare_reference_number:str?, merged_at:dt?, merged_with_patient:ref:patients, "
        "notes:str?, occupation:str?, old_reference_id:str?, "
        "patient_attachments:sub:/patients/{id}/patient_attachments, "
        "patient_phone_numbers:phones?, post_code:str?, preferred_first_name:str?, "
        "pronouns:obj?, receives_cancellation_emails:bool?, "
        "receives_confirmation_emails:bool?, referral_source:str?, "
        "referring_doctor:ref:contacts, relationships:filter:relationships:patient_id, "
        "reminder_type:enum?:None|SMS|Email|SMS & Email, sex:str?, state:str?, "
        "time_zone:str?, title:str?, updated_at:dt,"
    ),
)
_add(
    "patient_attachments",
    "/patient_attachments",
    _f(
        "archived_at:date-time, content_type:string, created_at:date-time, "
        "description:string, filename:string, id:int64, patient_id:int64, "
        "processed_at:date-time, size:integer, updated_at:date-time, user_id:int64,"
    ),
    FullPatientExport=_f(
        "archived_at:dt?, content:sub:/patient_attachments/{id}/content, content_type:str?, "
        "created_at:dt, description:str?, filename:str?, id:id, links:self, "
        "patient:ref:patients, pinned_at:dt?, processed_at:dt?, processing_completed:bool?, "
        "size:int?, updated_at:dt, user:ref:users,"
    ),
    UploadedPatientAttachment=_f(
        "archived_at:dt?, content:ref:patient_attachments, content_type:str?, created_at:dt, "
        "description:str?, filename:str?, id:id, links:self, patient:ref:patients, "
        "pinned_at:dt?, processed_at:dt?, processing_completed:bool?, size:int?, "
        "updated_at:dt, user:ref:users,"
    ),
)
_add(
    "patient_cases",
    "/patient_cases",
    _f(
        "archived_at:date-time, closed_at:date-time, created_at:date-time, expiry_date:date, "
        "id:int64, issue_date:date, name:string, patient_id:int64, referral_type:string, "
        "updated_at:date-time,"
    ),
    PatientCase=_f(
        "archived_at:dt?, attendee_ids:ids?, attendees:sub:/patient_cases/{id}/attendees, "
        "bookings:sub:/patient_cases/{id}/bookings, closed:bool?, closed_at:dt?, "
        "contact:ref:contacts, created_at:dt, expiry_date:date?, id:id, "
        "include_cancelled_attendees:bool?, include_dna_attendees:bool?, "
        "invoices:sub:/patient_cases/{id}/invoices, issue_date:date?, links:self, "
        "max_invoiceable_amount:dec?, max_sessions:int?, name:str, notes:str?, "
        "patient:ref:patients, "
        "patient_attachments:sub:/patient_cases/{id}/patient_attachments, referral:bool?, "
        "referral_type:enum?:dva|medicare, updated_at:dt,"
    ),
)
_add(
    "patient_forms",
    "/patient_forms",
    _f(
        "archived_at:date-time, attendee_id:int64, completed_at:date-time, "
        "created_at:date-time, id:int64, patient_id:int64, updated_at:date-time,"
    ),
    PatientForm=_f(
        "archived_at:dt?, attendee:ref:attendees, booking:ref:bookings, "
        "business:ref:businesses, completed_at:dt?, content:obj?, created_at:dt, "
        "edited_at:dt?, email_to_patient_on_completion:bool?, id:id, links:self, name:str, "
        "patient:ref:patients, restricted_to_practitioner:bool?, signatures:ref:signatures, "
        "updated_at:dt, url:uri?,"
    ),
)
_add(
    "patient_form_templates",
    "/patient_form_templates",
    _f("archived_at:date-time, created_at:date-time, id:int64, updated_at:date-time,"),
    PatientFormTemplate=_f(
        "archived_at:dt?, content:obj?, created_at:dt, email_to_patient_on_completion:bool?, "
        "id:id, links:self, name:str, restricted_to_practitioner:bool?, updated_at:dt,"
    ),
)
# Active and inactive practitioners: two list paths, one record shape.
for _path in ("/practitioners", "/practitioners/inactive"):
    _add(
        "practitioners",
        _path,
        _f(
            "active:boolean, created_at:date-time, id:int64, show_in_online_bookings:boolean, "
            "updated_at:date-time, user_id:int64,"
        ),
        Practitioner=_f(
            "active:bool?, appointment_types:sub:/practitioners/{id}/appointment_types, "
            "appointments:sub:/practitioners/{id}/appointments, created_at:dt, "
            "default_appointment_type:ref:appointment_types, description:str?, designation:str?, "
            "display_name:str?, first_name:str?, id:id, "
            "invoices:sub:/practitioners/{id}/invoices, label:str?, last_name:str?, links:self, "
            "practitioner_reference_numbers:sub:/practitioners/{id}/practitioner_reference_numbers, "
            "show_in_online_bookings:bool?, title:str?, updated_at:dt, user:ref:users,"
        ),
    )
_add(
    "practitioner_reference_numbers",
    "/practitioner_reference_numbers",
    _f(
        "business_id:int64, created_at:date-time, id:int64, practitioner_id:int64, "
        "reference_number:string, updated_at:date-time,"
    ),
    PractitionerReferenceNumber=_f(
        "business:ref:businesses, created_at:dt, id:id, links:self, name:str?, "
        "practitioner:ref:practitioners, reference_number:str?, updated_at:dt,"
    ),
)
_add(
    "products",
    "/products",
    _f(
        "archived_at:date-time, created_at:date-time, id:int64, name:string, tax_id:int64, "
        "updated_at:date-time,"
    ),
    Product=_f(
        "archived_at:dt?, cost_price:dec?, created_at:dt, id:id, item_code:str?, links:self, "
        "name:str, notes:str?, price_ex_tax:dec?, price_including_tax:dec?, "
        "product_supplier:ref:product_suppliers, product_supplier_name:str?, "
        "serial_number:str?, stock_adjustments:filter:stock_adjustments:product_id, "
        "stock_level:dec?, tax:ref:taxes, updated_at:dt, product_supplier_id:int64,"
    ),
)
_add(
    "product_suppliers",
    "/product_suppliers",
    _f("created_at:date-time, id:int64, name:string, updated_at:date-time,"),
    ProductSupplier=_f("created_at:dt, id:id, links:self, name:str, updated_at:dt,"),
)
_add(
    "referral_sources",
    "/referral_sources",
    _f(
        "archived_at:date-time, created_at:date-time, id:int64, "
        "referral_source_type_id:int64, referrer_id:int64, updated_at:date-time,"
    ),
    ReferralSource=_f(
        "archived_at:dt?, created_at:dt, id:id, "
        "links:self:/patients/{patient_id}/referral_source, notes:str?, patient:ref:patients, "
        "referral_source_type:ref:referral_source_types, referrer:ref:patients, "
        "referrer_type:enum?:Patient|Contact, subcategory:str?, updated_at:dt,"
    ),
)
_add(
    "referral_source_types",
    "/referral_source_types",
    _f("archived_at:date-time, created_at:date-time, id:int64, updated_at:date-time,"),
    ReferralSourceType=_f(
        "archived_at:dt?, created_at:dt, id:id, links:self, name:str, "
        "referrer_type:enum?:Contact|Patient, referrers:const:/patients, subcategories:strs?, "
        "updated_at:dt,"
    ),
)
_add(
    "relationships",
    "/relationships",
    _f(
        "archived_at:date-time, created_at:date-time, id:int64, patient_id:int64, "
        "updated_at:date-time,"
    ),
    Relationship=_f(
        "archived_at:dt?, created_at:dt, id:id, links:self, patient:ref:patients, "
        "related_patient:ref:patients, relation:ienum?:10|20|30|40|50|60|70, "
        "relation_description:enum?:Parent|Child|Sibling|Spouse|Partner|Relative|Other, "
        "updated_at:dt,"
    ),
)
_add(
    "services",
    "/services",
    {},
    Service=_f(
        "appointment_type:ref:appointment_types, business:ref:businesses, practitioners:arr?,"
    ),
)
_add(
    "stock_adjustments",
    "/stock_adjustments",
    _f(
        "archived_at:date-time, created_at:date-time, id:int64, product_id:int64, "
        "updated_at:date-time,"
    ),
    StockAdjustment=_f(
        " "
        "adjustment_type:enum:Correction|Damaged|Item Sold|Other|Out of Date|Returned|Stock Purchase, "
        "archived_at:dt?, comment:str?, created_at:dt, id:id, links:self, notes:str?, "
        "product:ref:products, quantity:dec?, updated_at:dt, user:ref:users,"
    ),
)
_add(
    "taxes",
    "/taxes",
    _f("created_at:date-time, id:int64, updated_at:date-time,"),
    Tax=_f("amount:dec, created_at:dt, id:id, links:self, name:str, rate:dec, updated_at:dt,"),
)
_add(
    "treatment_notes",
    "/treatment_notes",
    _f(
        "archived_at:date-time, attendee_id:int64, booking_id:int64, created_at:date-time, "
        "deleted_at:date-time, draft:boolean, id:int64, patient_id:int64, "
        "practitioner_id:int64, treatment_note_template_id:int64, updated_at:date-time,"
    ),
    TreatmentNote=_f(
        "archived_at:dt?, attendee:ref:attendees, author_name:str?, booking:ref:bookings, "
        "content:obj?, created_at:dt, deleted_at:dt?, draft:bool?, finalized_at:dt?, id:id, "
        "links:self, patient:ref:patients, pinned_at:dt?, practitioner:ref:practitioners, "
        "title:str, treatment_note_template:ref:treatment_note_templates, updated_at:dt,"
    ),
)
_add(
    "treatment_note_templates",
    "/treatment_note_templates",
    _f(
        "archived_at:date-time, created_at:date-time, deleted_at:date-time, id:int64, "
        "updated_at:date-time,"
    ),
    TreatmentNoteTemplate=_f(
        "archived_at:dt?, content:obj, created_at:dt, deleted_at:dt?, id:id, links:self, "
        "name:str, print_settings:obj?, updated_at:dt,"
    ),
)
_add(
    "unavailable_blocks",
    "/unavailable_blocks",
    _f(
        "archived_at:date-time, business_id:int64, created_at:date-time, "
        "deleted_at:date-time, ends_at:date-time, id:int64, practitioner_id:int64, "
        "repeated_from_id:int64, starts_at:date-time, unavailable_block_type_id:int64, "
        "updated_at:date-time,"
    ),
    UnavailableBlock=_f(
        "archived_at:dt?, business:ref:businesses, "
        "conflicts:sub:/unavailable_blocks/{id}/conflicts, created_at:dt, deleted_at:dt?, "
        "ends_at:dt, id:id, links:self, notes:str?, practitioner:ref:practitioners, "
        "repeat_rule:obj?, repeated_from:ref:unavailable_blocks, "
        "repeats:filter:unavailable_blocks:repeated_from_id, starts_at:dt, "
        "unavailable_block_type:ref:unavailable_block_types, updated_at:dt,"
    ),
)
_add(
    "unavailable_block_types",
    "/unavailable_block_types",
    _f("archived_at:date-time, created_at:date-time, id:int64, updated_at:date-time,"),
    UnavailableBlockType=_f(
        "archived_at:dt?, color:str, created_at:dt, duration_in_minutes:int, id:id, "
        "links:self, name:str, system_controlled:bool?, updated_at:dt,"
    ),
)
_add(
    "users",
    "/users",
    _f("created_at:date-time, id:int64, updated_at:date-time,"),
    User=_f(
        "active:bool?, created_at:dt, email:str, first_name:str, id:id, last_name:str, "
        "links:self, phone_numbers:phones?, "
        "role:enum?:administrator|bookkeeper|power receptionist|practitioner|receptionist|scheduler, "
        "time_zone:str, time_zone_identifier:str?, title:str?, updated_at:dt, "
        "user_active:bool?,"
    ),
)
